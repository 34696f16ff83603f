using System.Diagnostics;
using AttributeLock.EtcdFixture;
using dotnet_etcd;
using Etcdserverpb;
using Google.Protobuf;
using Xunit.Abstractions;

namespace AttributeLock.Tests;

/// <summary>Adversarial reproductions against the queue primitives on etcd servers of their own (pause, kill, compaction).</summary>
public sealed class BreakQueueOwnEtcdTests
{
    private readonly ITestOutputHelper _out;

    public BreakQueueOwnEtcdTests(ITestOutputHelper output) => _out = output;

    private static EtcdLockProvider Provider(string endpoints, TimeSpan? recheck = null, Microsoft.Extensions.Logging.LogLevel level = Microsoft.Extensions.Logging.LogLevel.Warning) =>
        new(new EtcdLockProviderOptions { Endpoints = { endpoints }, ConnectTimeout = TimeSpan.FromSeconds(2) }, new ConsoleLog(level), null, null,
            recheck is { } r ? s => s with { WatchRecheckInterval = r } : null);

    [Fact]
    public async Task Break_Etcd_paused_past_every_TTL_with_holders_and_waiters_recovers()
    {
        await using EtcdServer server = await EtcdServer.StartAsync();
        await using EtcdLockProvider a = Provider(server.Endpoint);
        await using EtcdLockProvider b = Provider(server.Endpoint, level: Microsoft.Extensions.Logging.LogLevel.Debug);
        var ttl = new EtcdLockOptions { TtlSeconds = 3 };
        EtcdLockHandle sem = await a.AcquireSemaphoreAsync("/p-sem", 1, ttl);
        EtcdLockHandle read = await a.AcquireReadLockAsync("/p-rw", ttl);
        EtcdLockHandle lead = await a.CampaignAsync("/p-el", ttl);
        var waits = new List<Task<EtcdLockHandle>>
        {
            b.AcquireSemaphoreAsync("/p-sem", 1, ttl).AsTask(),
            b.AcquireSemaphoreAsync("/p-sem", 1, ttl).AsTask(),
            b.AcquireWriteLockAsync("/p-rw", ttl).AsTask(),
        };
        await Task.Delay(300); // the reader queues behind the waiting writer
        waits.Add(b.AcquireReadLockAsync("/p-rw", ttl).AsTask());
        waits.Add(b.CampaignAsync("/p-el", ttl).AsTask());
        await Task.Delay(500);
        Assert.All(waits, w => Assert.False(w.IsCompleted));
        server.Pause();
        await Task.Delay(8000);
        server.Resume();
        var sw = Stopwatch.StartNew();
        await Task.WhenAll(
            Task.Run(async () => { while (!sem.IsLost || !read.IsLost || !lead.IsLost) { await Task.Delay(50); } }).WaitAsync(TimeSpan.FromSeconds(20)));
        _out.WriteLine($"holders told lost {sw.ElapsedMilliseconds} ms after resume");
        await sem.DisposeAsync();
        await read.DisposeAsync();
        await lead.DisposeAsync();

        // One semaphore waiter gets in, then the other after it; the writer, then the reader; the candidate.
        Task<EtcdLockHandle> firstSem = await Task.WhenAny(waits[0], waits[1]).WaitAsync(TimeSpan.FromSeconds(30));
        _out.WriteLine($"first semaphore waiter in {sw.ElapsedMilliseconds} ms after resume");
        Task<EtcdLockHandle> secondSem = firstSem == waits[0] ? waits[1] : waits[0];
        await Task.Delay(500);
        Assert.False(secondSem.IsCompleted, "two semaphore holders of MaxCount 1 at once");
        await (await firstSem).DisposeAsync();
        _out.WriteLine($"first semaphore holder released {sw.ElapsedMilliseconds} ms after resume");
        if (await Task.WhenAny(secondSem, Task.Delay(TimeSpan.FromSeconds(30))) != secondSem)
        {
            using var peek = new EtcdClient(server.Endpoint);
            foreach (Mvccpb.KeyValue kv in (await peek.GetRangeAsync("/p-")).Kvs)
            {
                _out.WriteLine($"in etcd: {kv.Key.ToStringUtf8()} = {kv.Value.ToStringUtf8()} create {kv.CreateRevision} lease {kv.Lease}");
            }

            Assert.Fail($"the second semaphore waiter hangs {sw.ElapsedMilliseconds} ms after resume; waits: {string.Join(", ", waits.Select(t => t.Status))}");
        }

        await (await secondSem).DisposeAsync();
        // Both the writer and the reader lost their tickets in the pause and queued again, in either order: never together.
        Task<EtcdLockHandle> firstRw = await Task.WhenAny(waits[2], waits[3]).WaitAsync(TimeSpan.FromSeconds(30));
        Task<EtcdLockHandle> secondRw = firstRw == waits[2] ? waits[3] : waits[2];
        await Task.Delay(500);
        Assert.False(secondRw.IsCompleted, "a reader beside a writer");
        await (await firstRw).DisposeAsync();
        await (await secondRw.WaitAsync(TimeSpan.FromSeconds(30))).DisposeAsync();
        await (await waits[4].WaitAsync(TimeSpan.FromSeconds(30))).DisposeAsync();
        _out.WriteLine($"all waiters through {sw.ElapsedMilliseconds} ms after resume");

        using var client = new EtcdClient(server.Endpoint);
        RangeResponse left = await client.GetRangeAsync("/p-");
        Assert.Empty(left.Kvs);
    }

    [Fact]
    public async Task Break_Blockers_lease_expiring_admits_the_waiter_and_a_foreign_ticket_value_fails_loudly()
    {
        await using EtcdServer server = await EtcdServer.StartAsync();
        await using EtcdLockProvider b = Provider(server.Endpoint);
        using var client = new EtcdClient(server.Endpoint);

        // A writer ticket of a crashed process: its lease is not kept alive.
        LeaseGrantResponse lease = await client.LeaseGrantAsync(new LeaseGrantRequest { TTL = 2 });
        await client.PutAsync(new PutRequest { Key = ByteString.CopyFromUtf8($"/c-rw/#rw/w/{lease.ID:x16}"), Value = ByteString.CopyFromUtf8("crashed"), Lease = lease.ID });
        var sw = Stopwatch.StartNew();
        await using (EtcdLockHandle r = await b.AcquireReadLockAsync("/c-rw", new EtcdLockOptions { TtlSeconds = 5 }).AsTask().WaitAsync(TimeSpan.FromSeconds(15)))
        {
            _out.WriteLine($"reader in after {sw.ElapsedMilliseconds} ms");
        }

        // A semaphore ticket of a crashed process with the same MaxCount.
        LeaseGrantResponse lease2 = await client.LeaseGrantAsync(new LeaseGrantRequest { TTL = 2 });
        await client.PutAsync(new PutRequest { Key = ByteString.CopyFromUtf8($"/c-sem/#sem/{lease2.ID:x16}"), Value = ByteString.CopyFromUtf8("maxCount=1;crashed"), Lease = lease2.ID });
        sw.Restart();
        await using (EtcdLockHandle s = await b.AcquireSemaphoreAsync("/c-sem", 1, new EtcdLockOptions { TtlSeconds = 5 }).AsTask().WaitAsync(TimeSpan.FromSeconds(15)))
        {
            _out.WriteLine($"semaphore in after {sw.ElapsedMilliseconds} ms");
        }
    }

    [Fact]
    public async Task Break_Compaction_while_waiters_watch_does_not_strand_them()
    {
        await using EtcdServer server = await EtcdServer.StartAsync();
        await using EtcdLockProvider a = Provider(server.Endpoint);
        await using EtcdLockProvider b = Provider(server.Endpoint, recheck: TimeSpan.FromSeconds(60)); // no periodic read to hide a miss
        using var client = new EtcdClient(server.Endpoint);
        var ttl = new EtcdLockOptions { TtlSeconds = 10 };
        EtcdLockHandle s1 = await a.AcquireSemaphoreAsync("/k-sem", 2, ttl);
        EtcdLockHandle s2 = await a.AcquireSemaphoreAsync("/k-sem", 2, ttl);
        EtcdLockHandle r = await a.AcquireReadLockAsync("/k-rw", ttl);
        Task<EtcdLockHandle> ws = b.AcquireSemaphoreAsync("/k-sem", 2, ttl).AsTask();
        Task<EtcdLockHandle> ww = b.AcquireWriteLockAsync("/k-rw", ttl).AsTask();
        await Task.Delay(500);
        for (int i = 0; i < 200; i++)
        {
            await client.PutAsync("/k-noise", i.ToString());
        }

        // Release, then compact right away, past the deletes, while the waiters' watches may still be catching up.
        await s1.DisposeAsync();
        await r.DisposeAsync();
        PutResponse last = await client.PutAsync("/k-noise", "last");
        await client.CompactAsync(new CompactionRequest { Revision = last.Header.Revision, Physical = true });
        var sw = Stopwatch.StartNew();
        await (await ws.WaitAsync(TimeSpan.FromSeconds(15))).DisposeAsync();
        await (await ww.WaitAsync(TimeSpan.FromSeconds(15))).DisposeAsync();
        _out.WriteLine($"both waiters in {sw.ElapsedMilliseconds} ms after the compaction");
        Assert.True(sw.ElapsedMilliseconds < 5000);
        await s2.DisposeAsync();
    }

    [Fact]
    public async Task Break_ObserveLeader_follows_the_truth_while_members_are_killed()
    {
        IReadOnlyList<EtcdServer> cluster = await EtcdServer.StartClusterAsync(3);
        try
        {
            string all = string.Join(",", cluster.Select(s => s.Endpoint));
            await using EtcdLockProvider a = new(new EtcdLockProviderOptions { Endpoints = { all }, ConnectTimeout = TimeSpan.FromSeconds(2) });
            await using EtcdLockProvider b = new(new EtcdLockProviderOptions { Endpoints = { all }, ConnectTimeout = TimeSpan.FromSeconds(2) });
            await using EtcdLockProvider o = new(new EtcdLockProviderOptions { Endpoints = { all }, ConnectTimeout = TimeSpan.FromSeconds(2) });
            var ttl = new EtcdLockOptions { TtlSeconds = 5 };
            EtcdLockHandle la = await a.CampaignAsync("/o-el", ttl);
            Task<EtcdLockHandle> lb = b.CampaignAsync("/o-el", ttl).AsTask();
            using var stop = new CancellationTokenSource();
            EtcdLeaderInfo? latest = null;
            var seen = new List<string>();
            Task observing = Task.Run(async () =>
            {
                await foreach (EtcdLeaderInfo? l in o.ObserveLeaderAsync("/o-el", stop.Token))
                {
                    lock (seen)
                    {
                        seen.Add(l?.Holder ?? "(none)");
                        latest = l;
                    }
                }
            });
            await Task.Delay(1000);
            Assert.Equal(a.HolderId, Volatile.Read(ref latest)?.Holder);
            await cluster[0].KillAsync();
            await cluster[1].KillAsync(); // no quorum: reads fail
            await Task.Delay(3000);
            await cluster[1].StartAgainAsync();
            await la.DisposeAsync(); // resigns (retried until etcd answers)
            EtcdLockHandle got = await lb.WaitAsync(TimeSpan.FromSeconds(30));
            var sw = Stopwatch.StartNew();
            while (Volatile.Read(ref latest)?.Holder != b.HolderId && sw.Elapsed < TimeSpan.FromSeconds(20))
            {
                await Task.Delay(100);
            }

            _out.WriteLine($"observer saw b {sw.ElapsedMilliseconds} ms after b led; sequence: {string.Join(" → ", seen)}");
            Assert.Equal(b.HolderId, Volatile.Read(ref latest)?.Holder);
            stop.Cancel();
            Exception? ex = await Record.ExceptionAsync(() => observing.WaitAsync(TimeSpan.FromSeconds(10)));
            Assert.True(ex is null or OperationCanceledException, $"observer ended with {ex}");
            await got.DisposeAsync();
        }
        finally
        {
            foreach (EtcdServer s in cluster)
            {
                await s.DisposeAsync();
            }
        }
    }
}
