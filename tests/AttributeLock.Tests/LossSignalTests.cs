using System.Diagnostics;
using AttributeLock.EtcdFixture;
using Etcdserverpb;
using Google.Protobuf;

namespace AttributeLock.Tests;

/// <summary>How loss signals reach holders when many are lost at once and users' callbacks block.</summary>
[Collection(nameof(LeaseCountingCollection))]
public sealed class LossSignalTests(CollectionEtcd etcd) : ProviderTestBase
{
    protected override Task<string> EndpointsAsync() => Task.FromResult(etcd.Endpoint);

    [Theory]
    [InlineData(64)]
    [InlineData(256)]
    public async Task Blocking_LostToken_callbacks_of_many_lost_holds_delay_neither_each_other_nor_a_healthy_holds_renewals(int count)
    {
        var provider = NewProvider();
        string prefix = UniqueKey("signal-storm");
        var handles = new EtcdLockHandle[count];
        var cancelledAt = new long[count];
        int fired = 0;
        using var unblock = new ManualResetEventSlim();
        await Parallel.ForEachAsync(Enumerable.Range(0, count), new ParallelOptions { MaxDegreeOfParallelism = 16 }, async (i, _) =>
        {
            // TTL 15: the holds are lost by the delete below, not by their TTL; a short TTL only let a loaded machine lose
            // some before their callbacks were registered (a callback registered on a cancelled token runs inline, and
            // this one blocks: the test hung for 25 minutes at load 68).
            handles[i] = await provider.AcquireAsync($"{prefix}/{i}", new EtcdLockOptions { TtlSeconds = 15 });
        });
        await using EtcdLockHandle healthy = await provider.AcquireAsync(UniqueKey("signal-healthy"), new EtcdLockOptions { TtlSeconds = 2 });
        int registering = Environment.CurrentManagedThreadId;
        int lostEarly = 0;
        for (int i = 0; i < count; i++)
        {
            int n = i;
            handles[i].LostToken.Register(() =>
            {
                if (Environment.CurrentManagedThreadId == registering)
                {
                    Interlocked.Increment(ref lostEarly); // lost already: runs inline in Register, must not block the test
                    return;
                }

                cancelledAt[n] = Stopwatch.GetTimestamp();
                Interlocked.Increment(ref fired);
                unblock.Wait(); // a user callback that blocks until the test ends
            });
        }

        Assert.True(lostEarly == 0, $"{lostEarly} holds were lost before their keys were deleted (a machine too loaded to renew TTL-15 leases?)");

        try
        {
            // Every key is watched (from its first renewal on); then all are deleted behind the holders' backs at once.
            await Eventually(() => Task.FromResult(provider.Probe.WatchedKeyCount >= count + 1), TimeSpan.FromSeconds(20), "every held key watched");
            long deleted = Stopwatch.GetTimestamp();
            await Client.DeleteRangeAsync("/attributelock-tests" + prefix + "/");

            await Eventually(() => Task.FromResult(Volatile.Read(ref fired) == count), TimeSpan.FromSeconds(30),
                $"every LostToken cancelled while the callbacks before it block (fired: {Volatile.Read(ref fired)} of {count})");
            double slowestMs = cancelledAt.Max(t => (t - deleted) * 1000.0 / Stopwatch.Frequency);
            Console.WriteLine($"{count} blocking callbacks: every LostToken cancelled within {slowestMs:F0} ms of the delete");
            Assert.All(handles, h => Assert.True(h.IsLost));

            // With every callback still blocked, the TTL-2 hold beside them goes on being renewed for three TTLs.
            await Task.Delay(TimeSpan.FromSeconds(6));
            Assert.False(healthy.IsLost, "blocked LostToken callbacks delayed another hold's renewals");
            Assert.Equal(healthy.LeaseId, (await GetKeyAsync(healthy.Key))?.Lease);
        }
        finally
        {
            unblock.Set();
            foreach (EtcdLockHandle h in handles)
            {
                await h.DisposeAsync();
            }
        }
    }

    [Fact]
    public async Task A_TTL_of_int_MaxValue_leaves_no_lease_behind_after_a_cancelled_acquire_and_dispose()
    {
        HashSet<long> before = await LeaseIdsAsync();
        var provider = NewProvider(o => o.SpareLeases = false);
        var waiter = NewProvider(o => o.SpareLeases = false);
        string key = UniqueKey("ttl-max");
        var options = new EtcdLockOptions { TtlSeconds = int.MaxValue };
        EtcdLockHandle held = await provider.AcquireAsync(key, options);
        Assert.True(held.TtlSeconds > 2_000_000_000L);

        // Another process's caller waits for the key with its own lease and gives up: its lease is revoked behind it.
        using (var cts = new CancellationTokenSource(TimeSpan.FromMilliseconds(700)))
        {
            await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => await waiter.AcquireAsync(key, options, cts.Token));
        }

        await waiter.DisposeAsync();
        await provider.DisposeAsync();
        await Eventually(async () => (await LeasesLeftAsync(before)).Count == 0, TimeSpan.FromSeconds(10),
            "every lease of the TTL-int.MaxValue acquires revoked");
        Assert.Null(await GetKeyAsync(held.Key));
    }
}
