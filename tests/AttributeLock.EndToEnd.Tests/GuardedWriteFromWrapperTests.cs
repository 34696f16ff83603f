using AttributeLock.EtcdFixture;
using dotnet_etcd;
using Microsoft.Extensions.Hosting;

namespace AttributeLock.EndToEnd.Tests;

public sealed class GuardedWriteFromWrapperTests
{
    [Fact]
    public async Task A_wrapper_body_writes_through_the_ambient_handle_and_a_stale_body_is_refused()
    {
        string endpoints = await SharedEtcd.GetEndpointsAsync();
        string prefix = $"/guarded-{Guid.NewGuid():N}";
        await using var provider = new EtcdLockProvider(new EtcdLockProviderOptions { Endpoints = { endpoints }, KeyPrefix = prefix });
        await using var other = new EtcdLockProvider(new EtcdLockProviderOptions { Endpoints = { endpoints }, KeyPrefix = prefix });
        using var client = new EtcdClient(SharedEtcd.First(endpoints));
        var counter = new GuardedCounter(provider, client);
        string name = Guid.NewGuid().ToString("N");
        Assert.Equal(1, await counter.IncrementAsync(name, null, CancellationToken.None));

        // The body's lease is revoked and another process takes the key before the body writes.
        var refused = await Assert.ThrowsAsync<EtcdLockNotHeldException>(() => counter.IncrementAsync(name, async () =>
        {
            await client.LeaseRevokeAsync(new Etcdserverpb.LeaseRevokeRequest { ID = EtcdLockContext.Current!.LeaseId });
            EtcdLockHandle theirs = await other.AcquireAsync("/counters/" + name, new EtcdLockOptions { WaitTimeout = TimeSpan.FromSeconds(10) });
            await theirs.DisposeAsync().AsTask().ContinueWith(_ => { }); // released again, but after the stale read
        }, CancellationToken.None));
        Assert.NotNull(refused.Key);
        Assert.Equal("1", (await client.GetAsync("/counter-data/" + name)).Kvs[0].Value.ToStringUtf8());
    }
}
