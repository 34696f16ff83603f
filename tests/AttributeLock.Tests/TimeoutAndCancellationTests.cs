using AttributeLock.EtcdFixture;
using Etcdserverpb;

namespace AttributeLock.Tests;

/// <summary>Compares etcd's leases before and after, on its collection's own etcd, so other tests' leases do not interfere.</summary>
[Collection(nameof(LeaseCountingCollection))]
public sealed class TimeoutAndCancellationTests(CollectionEtcd etcd) : ProviderTestBase
{
    protected override Task<string> EndpointsAsync() => Task.FromResult(etcd.Endpoint);

    [Fact]
    public async Task Timeout_throws_naming_key_holder_and_wait_and_leaves_no_lease()
    {
        var holderProvider = NewProvider();
        var waiterProvider = NewProvider();
        string key = UniqueKey("timeout");
        await using EtcdLockHandle held = await holderProvider.AcquireAsync(key);
        HashSet<long> before = await LeaseIdsAsync();

        var ex = await Assert.ThrowsAsync<EtcdLockTimeoutException>(async () =>
            await waiterProvider.AcquireAsync(key, new EtcdLockOptions { WaitTimeout = TimeSpan.FromMilliseconds(700) }));

        Assert.Equal(held.Key, ex.Key);
        Assert.Contains(held.Key, ex.Message);
        Assert.Contains(holderProvider.HolderId, ex.Message);
        Assert.Contains($"{ex.Waited.TotalMilliseconds:F0} ms", ex.Message);
        // Revoked behind the caller's back (the caller is not kept waiting for etcd), within moments.
        await Eventually(async () => (await LeasesLeftAsync(before, holderProvider, waiterProvider)).Count == 0, TimeSpan.FromSeconds(10), "the attempt's lease revoked (the providers' spares aside)");
        Assert.Equal(0, waiterProvider.Probe.KeptLeaseCountExcludingSpares);
    }

    [Fact]
    public async Task Cancellation_throws_OperationCanceled_and_leaves_no_lease()
    {
        var holderProvider = NewProvider();
        var waiterProvider = NewProvider();
        string key = UniqueKey("cancel");
        await using EtcdLockHandle held = await holderProvider.AcquireAsync(key);
        HashSet<long> before = await LeaseIdsAsync();
        using var cts = new CancellationTokenSource(TimeSpan.FromMilliseconds(500));

        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => await waiterProvider.AcquireAsync(key, cancellationToken: cts.Token));

        // Revoked behind the caller's back (the caller is not kept waiting for etcd), within moments.
        await Eventually(async () => (await LeasesLeftAsync(before, holderProvider, waiterProvider)).Count == 0, TimeSpan.FromSeconds(10), "the attempt's lease revoked (the providers' spares aside)");
        Assert.Equal(0, waiterProvider.Probe.KeptLeaseCountExcludingSpares);
    }

    [Fact]
    public async Task Single_attempt_when_busy_leaves_no_lease()
    {
        var holderProvider = NewProvider();
        var other = NewProvider();
        string key = UniqueKey("single");
        await using EtcdLockHandle held = await holderProvider.AcquireAsync(key);
        HashSet<long> before = await LeaseIdsAsync();

        Assert.Null(await other.TryAcquireAsync(key));
        await Assert.ThrowsAsync<EtcdLockTimeoutException>(async () => await other.AcquireAsync(key, new EtcdLockOptions { WaitTimeout = TimeSpan.Zero }));

        // Revoked behind the caller's back (the caller is not kept waiting for etcd), within moments.
        await Eventually(async () => (await LeasesLeftAsync(before, holderProvider, other)).Count == 0, TimeSpan.FromSeconds(10), "the attempt's lease revoked (the providers' spares aside)");
    }
}
