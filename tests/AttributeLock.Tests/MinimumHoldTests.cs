using System.Diagnostics;
using AttributeLock.EtcdFixture;
using Etcdserverpb;

namespace AttributeLock.Tests;

/// <summary>
/// <see cref="EtcdLockOptions.HoldAtLeast"/> (ShedLock's lockAtLeastFor) against a real etcd: a release before the
/// minimum leaves the key on a lease of its own that nobody renews, which no caller gets around and which ends by
/// itself; everything else releases as before. Compares etcd's leases before and after, on its collection's own etcd.
/// </summary>
[Collection(nameof(LeaseCountingCollection))]
public sealed class MinimumHoldTests(CollectionEtcd etcd) : ProviderTestBase
{
    protected override Task<string> EndpointsAsync() => Task.FromResult(etcd.Endpoint);

    [Fact]
    public async Task Release_before_the_minimum_keeps_the_key_on_a_lease_of_the_time_left_until_it_ends_by_itself()
    {
        var holder = NewProvider();
        var other = NewProvider();
        string key = UniqueKey("at-least");
        HashSet<long> before = await LeaseIdsAsync();
        TimeSpan minimum = TimeSpan.FromSeconds(4);

        EtcdLockHandle first = await holder.AcquireAsync(key, new EtcdLockOptions { TtlSeconds = 10, HoldAtLeast = minimum });
        var sinceAcquired = Stopwatch.StartNew(); // started after the hold's own clock: it under-counts the time held
        await Task.Delay(TimeSpan.FromSeconds(1.5));
        TimeSpan heldAtLeast = sinceAcquired.Elapsed;
        await first.DisposeAsync();

        // The key is still there, same value and fencing token (a put keeps the create revision), on another lease.
        Mvccpb.KeyValue kept = Assert.IsType<Mvccpb.KeyValue>(await GetKeyAsync(first.Key));
        Assert.Equal(first.FencingToken, kept.CreateRevision);
        Assert.Equal(holder.HolderId, kept.Value.ToStringUtf8());
        Assert.NotEqual(first.LeaseId, kept.Lease);
        Assert.Equal(-1, await LeaseTtlAsync(first.LeaseId)); // the hold's own lease was revoked

        // Its TTL is the time left, rounded up to whole seconds: at most ceil(minimum - time held before the release).
        LeaseTimeToLiveResponse lease = await Client.LeaseTimeToLiveAsync(new LeaseTimeToLiveRequest { ID = kept.Lease });
        long bound = (long)Math.Ceiling((minimum - heldAtLeast).TotalSeconds);
        Assert.InRange(lease.GrantedTTL, 1, bound);
        Assert.InRange(lease.TTL, 0, bound);

        // Nobody gets in meanwhile: another process, nor a caller of the holder's own process.
        Assert.Null(await other.TryAcquireAsync(key));
        Assert.Null(await holder.TryAcquireAsync(key));
        var busy = await Assert.ThrowsAsync<EtcdLockTimeoutException>(async () => await other.AcquireAsync(key, new EtcdLockOptions { WaitTimeout = TimeSpan.Zero }));
        Assert.Equal(holder.HolderId, busy.Holder);

        // Then the lease ends by itself (nobody renews it) and the key is free for the next holder.
        await using (EtcdLockHandle next = await other.AcquireAsync(key, new EtcdLockOptions { WaitTimeout = TimeSpan.FromSeconds(30) }))
        {
            Assert.True(next.FencingToken > first.FencingToken);
            Assert.Equal(-1, await LeaseTtlAsync(kept.Lease));
        }

        Assert.Empty(await LeasesLeftAsync(before, holder, other));
        Assert.Equal(0, holder.Probe.KeptLeaseCountExcludingSpares);
    }

    [Fact]
    public async Task Release_after_the_minimum_deletes_the_key_at_once_as_without_one()
    {
        var holder = NewProvider();
        string key = UniqueKey("at-least-passed");
        HashSet<long> before = await LeaseIdsAsync();

        EtcdLockHandle handle = await holder.AcquireAsync(key, new EtcdLockOptions { HoldAtLeast = TimeSpan.FromMilliseconds(300) });
        await Task.Delay(TimeSpan.FromMilliseconds(600)); // more than the minimum, whatever the clocks
        await handle.DisposeAsync();

        Assert.Null(await GetKeyAsync(handle.Key));
        Assert.Equal(-1, await LeaseTtlAsync(handle.LeaseId));
        Assert.Empty(await LeasesLeftAsync(before, holder));
        await using EtcdLockHandle? next = await NewProvider().TryAcquireAsync(key);
        Assert.NotNull(next);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task A_hold_lost_before_its_release_leaves_no_lasting_key_nor_lease(bool lossNoticed)
    {
        var holder = NewProvider();
        var other = NewProvider();
        string key = UniqueKey("at-least-lost");
        HashSet<long> before = await LeaseIdsAsync();
        EtcdLockHandle handle = await holder.AcquireAsync(key, new EtcdLockOptions { TtlSeconds = 10, HoldAtLeast = TimeSpan.FromSeconds(30) });
        var lost = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        handle.LostToken.Register(() => lost.TrySetResult());

        // Lost behind the holder's back, and the key taken by another process.
        await Client.LeaseRevokeAsync(new LeaseRevokeRequest { ID = handle.LeaseId });
        await using EtcdLockHandle taker = await other.AcquireAsync(key, new EtcdLockOptions { WaitTimeout = TimeSpan.FromSeconds(10) });
        if (lossNoticed)
        {
            await lost.Task.WaitAsync(TimeSpan.FromSeconds(15));
        }

        // Released either as a lost hold or (not noticed yet) through the guarded move, whose compare fails.
        await handle.DisposeAsync();

        Mvccpb.KeyValue current = Assert.IsType<Mvccpb.KeyValue>(await GetKeyAsync(taker.Key));
        Assert.Equal(taker.FencingToken, current.CreateRevision);
        Assert.Equal(taker.LeaseId, current.Lease);
        await taker.DisposeAsync();
        Assert.Null(await GetKeyAsync(taker.Key));
        // Any fresh lease granted for the move is revoked behind the caller, within moments.
        await Eventually(async () => (await LeasesLeftAsync(before, holder, other)).Count == 0, TimeSpan.FromSeconds(10), "no lease of ours left (the providers' spares aside)");
    }

    [Fact]
    public async Task A_key_deleted_behind_the_holders_back_is_not_recreated_by_the_release()
    {
        var holder = NewProvider();
        string key = UniqueKey("at-least-deleted");
        HashSet<long> before = await LeaseIdsAsync();
        EtcdLockHandle handle = await holder.AcquireAsync(key, new EtcdLockOptions { TtlSeconds = 10, HoldAtLeast = TimeSpan.FromSeconds(30) });

        await Client.DeleteAsync(handle.Key);
        await handle.DisposeAsync(); // the move's compare (our create revision and lease) fails: nothing is kept

        Assert.Null(await GetKeyAsync(handle.Key));
        await Eventually(async () => (await LeasesLeftAsync(before, holder)).Count == 0, TimeSpan.FromSeconds(10), "no lease of ours left (the provider's spares aside)");
    }

    [Fact]
    public async Task A_waiter_of_the_same_process_gets_the_key_only_once_the_minimum_has_ended()
    {
        var holder = NewProvider();
        string key = UniqueKey("at-least-local");
        EtcdLockHandle first = await holder.AcquireAsync(key, new EtcdLockOptions { TtlSeconds = 10, HoldAtLeast = TimeSpan.FromSeconds(3) });
        Task<EtcdLockHandle> waiter = holder.AcquireAsync(key, new EtcdLockOptions { WaitTimeout = TimeSpan.FromSeconds(30) }).AsTask();

        await first.DisposeAsync();
        Mvccpb.KeyValue kept = Assert.IsType<Mvccpb.KeyValue>(await GetKeyAsync(first.Key));

        await using EtcdLockHandle next = await waiter;
        // The waiter went through etcd: it got the key only after the minimum's lease had ended and deleted it.
        Assert.Equal(-1, await LeaseTtlAsync(kept.Lease));
        Assert.True(next.FencingToken > first.FencingToken);
    }

    [Fact]
    public async Task Disposing_the_provider_during_the_hold_still_keeps_the_minimum_in_etcd()
    {
        var holder = NewProvider();
        var other = NewProvider();
        string key = UniqueKey("at-least-disposed");
        HashSet<long> before = await LeaseIdsAsync();
        EtcdLockHandle handle = await holder.AcquireAsync(key, new EtcdLockOptions { TtlSeconds = 10, HoldAtLeast = TimeSpan.FromSeconds(4) });
        var lost = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        handle.LostToken.Register(() => lost.TrySetResult());

        await holder.DisposeAsync();

        await lost.Task.WaitAsync(TimeSpan.FromSeconds(15)); // the body is told, as on every dispose
        Mvccpb.KeyValue kept = Assert.IsType<Mvccpb.KeyValue>(await GetKeyAsync(handle.Key));
        Assert.Equal(handle.FencingToken, kept.CreateRevision);
        Assert.NotEqual(handle.LeaseId, kept.Lease);
        Assert.InRange((await Client.LeaseTimeToLiveAsync(new LeaseTimeToLiveRequest { ID = kept.Lease })).GrantedTTL, 1, 4);
        Assert.Null(await other.TryAcquireAsync(key));

        await using (EtcdLockHandle next = await other.AcquireAsync(key, new EtcdLockOptions { WaitTimeout = TimeSpan.FromSeconds(30) }))
        {
            Assert.True(next.FencingToken > handle.FencingToken);
        }

        await handle.DisposeAsync();
        Assert.Empty(await LeasesLeftAsync(before, other));
    }

    [Fact]
    public async Task A_negative_or_too_long_minimum_is_refused_naming_the_option()
    {
        var provider = NewProvider();

        var negative = await Assert.ThrowsAsync<ArgumentOutOfRangeException>(async () =>
            await provider.AcquireAsync(UniqueKey("at-least-bad"), new EtcdLockOptions { HoldAtLeast = TimeSpan.FromMilliseconds(-1) }));
        var tooLong = await Assert.ThrowsAsync<ArgumentOutOfRangeException>(async () =>
            await provider.TryAcquireAsync(UniqueKey("at-least-bad"), new EtcdLockOptions { HoldAtLeast = TimeSpan.FromSeconds(int.MaxValue + 1L) }));

        Assert.Contains("EtcdLockOptions.HoldAtLeast", negative.Message);
        Assert.Contains("EtcdLockOptions.HoldAtLeast", tooLong.Message);
        Assert.Equal(0, provider.Probe.KeptLeaseCountExcludingSpares);
    }
}
