using Etcdserverpb;

namespace AttributeLock.Tests;

/// <summary>
/// Semaphores, reader-writer locks and elections on a real etcd, through two providers (two sessions, as two
/// processes): exclusion counted by the holders themselves and read back from etcd, first come first served, the
/// MaxCount rule, Try semantics, cancellation, loss of a ticket, guarded writes under a ticket.
/// </summary>
public sealed class QueuePrimitiveTests : ProviderTestBase
{
    private static readonly EtcdLockOptions s_ttl = new() { TtlSeconds = 15 };

    [Fact]
    public async Task A_semaphore_never_has_more_than_MaxCount_holders_across_providers()
    {
        var a = NewProvider();
        var b = NewProvider();
        string key = UniqueKey("sem");
        int inside = 0, most = 0, done = 0;
        async Task Worker(IEtcdLockProvider p)
        {
            for (int i = 0; i < 4; i++)
            {
                await using EtcdLockHandle h = await p.AcquireSemaphoreAsync(key, 3, s_ttl);
                int now = Interlocked.Increment(ref inside);
                InterlockedMax(ref most, now);
                // Our own ticket is in etcd while we hold it. (Counting every ticket against `inside` was a race in the
                // test: a holder counted in `now` may leave and revoke its ticket before this read answers.)
                RangeResponse tickets = await Client.GetRangeAsync("/attributelock-tests" + key + "/#sem/");
                Assert.True(tickets.Kvs.Any(kv => kv.Key.ToStringUtf8() == h.Key), $"the holder's ticket {h.Key} is in etcd");
                Assert.True(tickets.Kvs.Count >= 1 && tickets.Kvs.Count <= 8, $"{tickets.Kvs.Count} tickets for 8 callers");
                await Task.Delay(40);
                Interlocked.Decrement(ref inside);
                Interlocked.Increment(ref done);
            }
        }

        await Task.WhenAll(Enumerable.Range(0, 8).Select(i => Worker(i % 2 == 0 ? a : b)));
        Assert.Equal(32, done);
        Assert.True(most <= 3, $"at most 3 holders at once; {most} were");
        Assert.True(most >= 2, $"holders should overlap up to MaxCount; at most {most} did");
        Assert.Empty((await Client.GetRangeAsync("/attributelock-tests" + key + "/")).Kvs);
    }

    [Fact]
    public async Task A_full_semaphore_refuses_a_single_attempt_and_hands_the_ticket_on_in_order()
    {
        var a = NewProvider();
        var b = NewProvider();
        string key = UniqueKey("sem-order");
        await using EtcdLockHandle first = await a.AcquireSemaphoreAsync(key, 2, s_ttl);
        EtcdLockHandle second = await b.AcquireSemaphoreAsync(key, 2, s_ttl);
        Assert.Null(await a.TryAcquireSemaphoreAsync(key, 2, s_ttl));
        var order = new List<int>();
        Task<EtcdLockHandle> third = b.AcquireSemaphoreAsync(key, 2, s_ttl).AsTask();
        await Task.Delay(200);
        Task<EtcdLockHandle> fourth = a.AcquireSemaphoreAsync(key, 2, s_ttl).AsTask();
        await Task.Delay(200);
        Assert.False(third.IsCompleted);
        Assert.False(fourth.IsCompleted);
        await second.DisposeAsync();
        EtcdLockHandle t3 = await third.WaitAsync(TimeSpan.FromSeconds(10));
        await Task.Delay(300);
        Assert.False(fourth.IsCompleted, "the fourth caller came after the third and only one ticket was given back");
        Assert.True(t3.FencingToken > second.FencingToken);
        await t3.DisposeAsync();
        await (await fourth.WaitAsync(TimeSpan.FromSeconds(10))).DisposeAsync();
    }

    [Fact]
    public async Task Callers_that_disagree_on_MaxCount_fail_naming_both_values()
    {
        var a = NewProvider();
        var b = NewProvider();
        string key = UniqueKey("sem-mismatch");
        await using EtcdLockHandle held = await a.AcquireSemaphoreAsync(key, 3, s_ttl);
        var ex = await Assert.ThrowsAsync<InvalidOperationException>(async () => await b.AcquireSemaphoreAsync(key, 5, s_ttl));
        Assert.Contains("MaxCount 5", ex.Message);
        Assert.Contains("MaxCount 3", ex.Message);
        RangeResponse tickets = await Client.GetRangeAsync("/attributelock-tests" + key + "/#sem/");
        Assert.Single(tickets.Kvs); // the refused caller's ticket is gone
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(async () => await a.AcquireSemaphoreAsync(key, 0));
    }

    [Fact]
    public async Task Readers_share_and_a_writer_excludes_them()
    {
        var a = NewProvider();
        var b = NewProvider();
        string key = UniqueKey("rw");
        EtcdLockHandle r1 = await a.AcquireReadLockAsync(key, s_ttl);
        EtcdLockHandle r2 = await b.AcquireReadLockAsync(key, s_ttl);
        Assert.Null(await a.TryAcquireWriteLockAsync(key, s_ttl));
        Task<EtcdLockHandle> writer = b.AcquireWriteLockAsync(key, s_ttl).AsTask();
        await Task.Delay(200);
        Assert.False(writer.IsCompleted);
        await r1.DisposeAsync();
        await Task.Delay(200);
        Assert.False(writer.IsCompleted, "one reader still holds");
        await r2.DisposeAsync();
        EtcdLockHandle w = await writer.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Null(await a.TryAcquireReadLockAsync(key, s_ttl));
        Assert.Null(await a.TryAcquireWriteLockAsync(key, s_ttl));
        await w.DisposeAsync();
        await (await a.AcquireReadLockAsync(key, s_ttl)).DisposeAsync();
    }

    [Fact]
    public async Task A_reader_that_comes_after_a_waiting_writer_waits_for_it()
    {
        var a = NewProvider();
        var b = NewProvider();
        string key = UniqueKey("rw-fair");
        EtcdLockHandle r1 = await a.AcquireReadLockAsync(key, s_ttl);
        Task<EtcdLockHandle> writer = b.AcquireWriteLockAsync(key, s_ttl).AsTask();
        await Task.Delay(300);
        Assert.Null(await a.TryAcquireReadLockAsync(key, s_ttl)); // a writer waits: a new reader queues behind it
        Task<EtcdLockHandle> r2 = a.AcquireReadLockAsync(key, s_ttl).AsTask();
        await Task.Delay(300);
        Assert.False(r2.IsCompleted);
        await r1.DisposeAsync();
        EtcdLockHandle w = await writer.WaitAsync(TimeSpan.FromSeconds(10));
        await Task.Delay(300);
        Assert.False(r2.IsCompleted, "the later reader must wait for the writer");
        await w.DisposeAsync();
        await (await r2.WaitAsync(TimeSpan.FromSeconds(10))).DisposeAsync();
    }

    [Fact]
    public async Task Candidates_lead_in_order_and_a_resignation_hands_over_at_once()
    {
        var a = NewProvider();
        var b = NewProvider();
        string election = UniqueKey("election");
        Assert.Null(await a.GetLeaderAsync(election));
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var seen = new List<EtcdLeaderInfo?>();
        var sawB = new TaskCompletionSource();
        Task observing = Task.Run(async () =>
        {
            await foreach (EtcdLeaderInfo? leader in b.ObserveLeaderAsync(election, stop.Token))
            {
                lock (seen)
                {
                    seen.Add(leader);
                }

                if (leader?.Holder == b.HolderId)
                {
                    sawB.TrySetResult();
                }
            }
        });
        EtcdLockHandle leaderA = await a.CampaignAsync(election, s_ttl);
        Task<EtcdLockHandle> campaignB = b.CampaignAsync(election, s_ttl).AsTask();
        await Task.Delay(300);
        Assert.False(campaignB.IsCompleted);
        EtcdLeaderInfo? now = await b.GetLeaderAsync(election);
        Assert.Equal(a.HolderId, now?.Holder);
        Assert.Equal(leaderA.FencingToken, now?.FencingToken);
        var resigned = System.Diagnostics.Stopwatch.StartNew();
        await leaderA.DisposeAsync();
        EtcdLockHandle leaderB = await campaignB.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.True(resigned.Elapsed < TimeSpan.FromSeconds(5), $"a resignation hands over without waiting for the TTL; took {resigned.Elapsed}");
        Assert.True(leaderB.FencingToken > leaderA.FencingToken);
        await sawB.Task.WaitAsync(TimeSpan.FromSeconds(10));
        await leaderB.DisposeAsync();
        stop.Cancel();
        await observing;
        lock (seen)
        {
            Assert.Contains(seen, l => l?.Holder == a.HolderId);
            for (int i = 1; i < seen.Count; i++)
            {
                Assert.NotEqual(seen[i - 1], seen[i]);
            }
        }
    }

    [Fact]
    public async Task A_cancelled_waiter_leaves_no_ticket_and_a_deleted_ticket_is_a_lost_hold()
    {
        var a = NewProvider();
        string key = UniqueKey("sem-cancel");
        EtcdLockHandle held = await a.AcquireSemaphoreAsync(key, 1, s_ttl);
        using var cts = new CancellationTokenSource(300);
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => await a.AcquireSemaphoreAsync(key, 1, s_ttl, cts.Token));
        await Task.Delay(500);
        RangeResponse tickets = await Client.GetRangeAsync("/attributelock-tests" + key + "/#sem/");
        Assert.Single(tickets.Kvs);

        var lost = new TaskCompletionSource();
        held.LostToken.Register(() => lost.TrySetResult());
        await Client.DeleteAsync(held.Key);
        await lost.Task.WaitAsync(TimeSpan.FromSeconds(20));
        await Assert.ThrowsAsync<EtcdLockNotHeldException>(() => held.PutIfHeldAsync("/attributelock-tests" + key + "-data", "x"));
        await held.DisposeAsync();
    }

    [Fact]
    public async Task Guarded_writes_under_a_read_hold_apply_while_it_is_held()
    {
        var a = NewProvider();
        string key = UniqueKey("rw-guarded");
        string data = "/attributelock-tests" + key + "-data";
        await using (EtcdLockHandle r = await a.AcquireReadLockAsync(key, s_ttl))
        {
            await r.PutIfHeldAsync(data, "1");
        }

        Assert.Equal("1", (await Client.GetRangeAsync(data)).Kvs.Single().Value.ToStringUtf8());
    }

    [Fact]
    public async Task One_release_wakes_only_the_waiter_whose_turn_came_not_every_waiter()
    {
        // 2 processes x 10 waiters on a semaphore of 1 (the herd question): each release must cost etcd a few reads,
        // not one per waiter. The waiters' reads are counted at the gRPC layer of both providers.
        var recA = new CallRecorder();
        var recB = new CallRecorder();
        var a = NewProvider(interceptors: [recA]);
        var b = NewProvider(interceptors: [recB]);
        string key = UniqueKey("sem-herd");
        EtcdLockHandle holder = await a.AcquireSemaphoreAsync(key, 1, s_ttl);
        var waiters = Enumerable.Range(0, 20).Select(i => (i % 2 == 0 ? a : b).AcquireSemaphoreAsync(key, 1, s_ttl).AsTask()).ToList();
        await WaitForTicketsAsync(key + "/#sem/", 21);
        await Task.Delay(300);
        var txnsPerHandOff = new List<int>();
        EtcdLockHandle current = holder;
        for (int i = 0; i < 20; i++)
        {
            recA.Start();
            recB.Start();
            await current.DisposeAsync();
            Task<EtcdLockHandle> next = await Task.WhenAny(waiters).WaitAsync(TimeSpan.FromSeconds(20));
            waiters.Remove(next);
            current = await next;
            await Task.Delay(50); // reads that a woken waiter would still make
            recA.Stop();
            recB.Stop();
            // The releaser's revoke is not a Txn; the admitted waiter's read is; any other waiter's read would be too.
            txnsPerHandOff.Add(recA.Of<TxnRequest>().Count + recB.Of<TxnRequest>().Count);
        }

        await current.DisposeAsync();
        Assert.True(txnsPerHandOff.Max() <= 3, $"a hand-off should cost the next waiter's read, not one per waiter: {string.Join(",", txnsPerHandOff)}");
    }

    [Fact]
    public async Task A_writer_gets_in_under_a_steady_read_load()
    {
        var a = NewProvider();
        var b = NewProvider();
        string key = UniqueKey("rw-starve");
        using var stop = new CancellationTokenSource();
        int readerHolds = 0;
        int readersInside = 0;
        // 6 readers in two providers, each holding 60 ms and coming straight back: there is always a reader inside.
        Task[] readers = Enumerable.Range(0, 6).Select(i => Task.Run(async () =>
        {
            IEtcdLockProvider p = i % 2 == 0 ? a : b;
            while (!stop.IsCancellationRequested)
            {
                await using EtcdLockHandle r = await p.AcquireReadLockAsync(key, s_ttl);
                Interlocked.Increment(ref readersInside);
                Interlocked.Increment(ref readerHolds);
                await Task.Delay(60);
                Interlocked.Decrement(ref readersInside);
            }
        })).ToArray();
        await Task.Delay(500);
        var waits = new List<double>();
        for (int i = 0; i < 8; i++)
        {
            var sw = System.Diagnostics.Stopwatch.StartNew();
            await using (EtcdLockHandle w = await a.AcquireWriteLockAsync(key, new EtcdLockOptions { TtlSeconds = 15, WaitTimeout = TimeSpan.FromSeconds(30) }))
            {
                waits.Add(sw.Elapsed.TotalMilliseconds);
                Assert.Equal(0, Volatile.Read(ref readersInside)); // alone while the readers keep coming
                await Task.Delay(30);
            }

            int afterRelease = Volatile.Read(ref readerHolds);
            await Task.Delay(150);
            Assert.True(Volatile.Read(ref readerHolds) > afterRelease, "the readers queued behind the writer get in once it releases");
        }

        stop.Cancel();
        await Task.WhenAll(readers);
        Console.WriteLine($"writer waits under a steady read load (ms): {string.Join(", ", waits.Select(w => w.ToString("F0")))}; {readerHolds} read holds");
    }

    private async Task WaitForTicketsAsync(string prefix, int count)
    {
        var sw = System.Diagnostics.Stopwatch.StartNew();
        while ((await Client.GetRangeAsync("/attributelock-tests" + prefix)).Kvs.Count < count)
        {
            Assert.True(sw.Elapsed < TimeSpan.FromSeconds(20), $"{count} tickets under {prefix} expected");
            await Task.Delay(50);
        }
    }

    private static void InterlockedMax(ref int target, int value)
    {
        int seen;
        while ((seen = Volatile.Read(ref target)) < value && Interlocked.CompareExchange(ref target, value, seen) != seen)
        {
        }
    }
}
