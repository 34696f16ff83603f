using AttributeLock.Engine.Session;
using Etcdserverpb;
using Grpc.Net.Client;
using Microsoft.Extensions.Logging.Abstractions;

namespace AttributeLock.Tests;

/// <summary>
/// A grant can be answered after the provider's dispose gave up waiting for it: the lease it registers then must not be
/// kept (renewed, or retried every 200 ms until its deadline) by a keeper that is gone.
/// </summary>
public sealed class LeaseKeeperDisposeTests
{
    [Fact]
    public async Task A_lease_registered_after_dispose_is_retired_at_once_and_not_kept()
    {
        // No etcd is needed: nothing may be sent for this lease. The channel points at a port nobody listens on.
        using var channel = GrpcChannel.ForAddress("http://127.0.0.1:9");
        var keeper = new LeaseKeeper(new Lease.LeaseClient(channel), NullLogger.Instance, TimeSpan.FromSeconds(1));
        KeptLease before = keeper.Register(1, ttlSeconds: 10, grantSentTimestamp: LeaseClock.GetTimestamp());
        await keeper.DisposeAsync();
        Assert.True(before.HasEnded, "dispose retires the leases it keeps");

        KeptLease late = keeper.Register(2, ttlSeconds: 10, grantSentTimestamp: LeaseClock.GetTimestamp());
        Assert.True(late.HasEnded, "a lease registered after dispose is retired at once");
        Assert.Equal(0, keeper.Count);
    }
}
