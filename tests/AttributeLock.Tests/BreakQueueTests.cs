using System.Diagnostics;
using Etcdserverpb;
using Grpc.Core;
using Grpc.Core.Interceptors;
using Xunit.Abstractions;

namespace AttributeLock.Tests;

/// <summary>Adversarial reproductions against the queue primitives (semaphore, RW lock, election) on the shared etcd.</summary>
public sealed class BreakQueueTests : ProviderTestBase
{
    private static readonly EtcdLockOptions s_ttl = new() { TtlSeconds = 15 };
    private const string Prefix = "/attributelock-tests";
    private readonly ITestOutputHelper _out;

    public BreakQueueTests(ITestOutputHelper output) => _out = output;

    /// <summary>Delays every unary Range answer while armed (a slow etcd for reads).</summary>
    private sealed class SlowRangeInterceptor : Interceptor
    {
        public volatile bool Armed;

        public override AsyncUnaryCall<TResponse> AsyncUnaryCall<TRequest, TResponse>(TRequest request, ClientInterceptorContext<TRequest, TResponse> context, AsyncUnaryCallContinuation<TRequest, TResponse> continuation)
        {
            if (!Armed || request is not RangeRequest)
            {
                return continuation(request, context);
            }

            CancellationToken token = context.Options.CancellationToken;
            async Task<TResponse> Slow()
            {
                await Task.Delay(1000, token);
                return await continuation(request, context).ResponseAsync;
            }

            return new AsyncUnaryCall<TResponse>(Slow(), Task.FromResult(new Metadata()), () => Status.DefaultSuccess, () => new Metadata(), () => { });
        }
    }

    // ---- cancellation surfaces as cancellation --------------------------------------------------------------------

    [Fact]
    public async Task Break_GetLeader_with_a_cancelled_token_throws_OperationCanceled()
    {
        var a = NewProvider();
        using var cts = new CancellationTokenSource();
        cts.Cancel();
        Exception? ex = await Record.ExceptionAsync(async () => await a.GetLeaderAsync(UniqueKey("el-cancel"), cts.Token));
        _out.WriteLine(ex?.ToString() ?? "no exception");
        Assert.IsAssignableFrom<OperationCanceledException>(ex);
    }

    [Fact]
    public async Task Break_GetLeader_cancelled_mid_read_throws_OperationCanceled()
    {
        var slow = new SlowRangeInterceptor();
        var a = NewProvider(interceptors: new Interceptor[] { slow });
        slow.Armed = true;
        using var cts = new CancellationTokenSource(200);
        Exception? ex = await Record.ExceptionAsync(async () => await a.GetLeaderAsync(UniqueKey("el-cancel2"), cts.Token));
        _out.WriteLine(ex?.ToString() ?? "no exception");
        Assert.IsAssignableFrom<OperationCanceledException>(ex);
    }

    [Fact]
    public async Task Break_ObserveLeader_cancelled_during_its_read_ends_quietly_or_with_OperationCanceled()
    {
        var slow = new SlowRangeInterceptor();
        var a = NewProvider(interceptors: new Interceptor[] { slow });
        slow.Armed = true;
        using var cts = new CancellationTokenSource(200);
        Exception? ex = await Record.ExceptionAsync(async () =>
        {
            await foreach (EtcdLeaderInfo? _ in a.ObserveLeaderAsync(UniqueKey("el-observe"), cts.Token))
            {
            }
        });
        _out.WriteLine(ex?.ToString() ?? "no exception");
        Assert.True(ex is null or OperationCanceledException, $"cancelling an observer ended it with {ex?.GetType()}");
    }

    // ---- in-process exclusion after a loss ---------------------------------------------------------------------------

    [Fact]
    public async Task Break_Two_RunAsync_in_one_process_run_two_bodies_at_once_after_a_loss()
    {
        var a = NewProvider();
        string election = UniqueKey("el-two-bodies");
        int running = 0, most = 0;
        var firstStarted = new TaskCompletionSource<string>();
        using var stop = new CancellationTokenSource();
        async Task Body(CancellationToken token)
        {
            int now = Interlocked.Increment(ref running);
            InterlockedMax(ref most, now);
            try
            {
                firstStarted.TrySetResult(EtcdLockContext.Current!.Key);
                // A body that stops at its token, but takes 3 s to wind down (a flush, a commit): still running.
                try
                {
                    await Task.Delay(Timeout.Infinite, token);
                }
                catch (OperationCanceledException)
                {
                }

                await Task.Delay(3000);
            }
            finally
            {
                Interlocked.Decrement(ref running);
            }
        }

        Task r1 = EtcdLeadership.RunAsync(a, election, s_ttl, Body, stop.Token);
        Task r2 = EtcdLeadership.RunAsync(a, election, s_ttl, Body, stop.Token);
        string leaderKey = await firstStarted.Task.WaitAsync(TimeSpan.FromSeconds(10));
        await Task.Delay(300);
        Assert.Equal(1, Volatile.Read(ref running));
        await Client.DeleteAsync(leaderKey); // the leader's key is lost (an operator, a compaction of the lease...)
        await Task.Delay(2000);
        int seen = Volatile.Read(ref most);
        stop.Cancel();
        await Task.WhenAll(r1, r2).WaitAsync(TimeSpan.FromSeconds(20));
        Assert.True(seen <= 1, $"{seen} bodies of one election ran at once in one process");
    }

    [Fact]
    public async Task Break_Semaphore_of_one_admits_a_second_holder_in_the_same_process_while_the_lost_one_still_runs()
    {
        var a = NewProvider();
        string key = UniqueKey("sem-inproc");
        EtcdLockHandle h1 = await a.AcquireSemaphoreAsync(key, 1, s_ttl);
        Task<EtcdLockHandle> h2 = a.AcquireSemaphoreAsync(key, 1, s_ttl).AsTask();
        await Task.Delay(300);
        Assert.False(h2.IsCompleted);
        await Client.DeleteAsync(h1.Key);
        bool secondIn = await Task.WhenAny(h2, Task.Delay(3000)) == h2;

        // The same with a plain lock, for contrast.
        string lockKey = UniqueKey("lock-inproc");
        EtcdLockHandle l1 = await a.AcquireAsync(lockKey, s_ttl);
        Task<EtcdLockHandle> l2 = a.AcquireAsync(lockKey, s_ttl).AsTask();
        await Task.Delay(300);
        await Client.DeleteAsync(l1.Key);
        bool lockSecondIn = await Task.WhenAny(l2, Task.Delay(3000)) == l2;
        _out.WriteLine($"semaphore: second admitted while first undisposed = {secondIn} (first lost = {h1.IsLost}); lock: {lockSecondIn} (first lost = {l1.IsLost})");
        await h1.DisposeAsync();
        await l1.DisposeAsync();
        await (await h2.WaitAsync(TimeSpan.FromSeconds(10))).DisposeAsync();
        await (await l2.WaitAsync(TimeSpan.FromSeconds(10))).DisposeAsync();
        Assert.Equal(lockSecondIn, secondIn);
    }

    // ---- Try and cancellation leave nothing -------------------------------------------------------------------------

    [Fact]
    public async Task Break_TryAcquire_returns_null_with_no_ticket_left_at_that_moment()
    {
        var a = NewProvider();
        var b = NewProvider();
        string key = UniqueKey("sem-try");
        await using EtcdLockHandle held = await a.AcquireSemaphoreAsync(key, 1, s_ttl);
        string rw = UniqueKey("rw-try");
        await using EtcdLockHandle w = await a.AcquireWriteLockAsync(rw, s_ttl);
        int leftSem = 0, leftRw = 0;
        for (int i = 0; i < 20; i++)
        {
            Assert.Null(await b.TryAcquireSemaphoreAsync(key, 1, s_ttl));
            leftSem += (await Client.GetRangeAsync(Prefix + key + "/#sem/")).Kvs.Count - 1;
            Assert.Null(await b.TryAcquireReadLockAsync(rw, s_ttl));
            leftRw += (await Client.GetRangeAsync(Prefix + rw + "/#rw/")).Kvs.Count - 1;
        }

        Assert.Equal(0, leftSem);
        Assert.Equal(0, leftRw);
    }

    [Fact]
    public async Task Break_Cancellation_storm_leaves_no_ticket_and_the_queue_still_moves()
    {
        var a = NewProvider();
        var b = NewProvider();
        string key = UniqueKey("sem-storm");
        EtcdLockHandle held = await a.AcquireSemaphoreAsync(key, 2, s_ttl);
        EtcdLockHandle held2 = await a.AcquireSemaphoreAsync(key, 2, s_ttl);
        var rnd = new Random(7);
        var tasks = new List<Task>();
        for (int i = 0; i < 150; i++)
        {
            var cts = new CancellationTokenSource(rnd.Next(0, 1500));
            IEtcdLockProvider p = i % 2 == 0 ? a : b;
            tasks.Add(Task.Run(async () =>
            {
                try
                {
                    await using EtcdLockHandle h = await p.AcquireSemaphoreAsync(key, 2, s_ttl, cts.Token);
                    throw new InvalidOperationException("admitted while two held");
                }
                catch (OperationCanceledException)
                {
                }
            }));
        }

        await Task.WhenAll(tasks).WaitAsync(TimeSpan.FromSeconds(30));
        await Eventually(async () => (await Client.GetRangeAsync(Prefix + key + "/#sem/")).Kvs.Count == 2, TimeSpan.FromSeconds(10), "only the two holders' tickets remain");
        Task<EtcdLockHandle> next = b.AcquireSemaphoreAsync(key, 2, s_ttl).AsTask();
        await Task.Delay(200);
        Assert.False(next.IsCompleted);
        var sw = Stopwatch.StartNew();
        await held.DisposeAsync();
        await (await next.WaitAsync(TimeSpan.FromSeconds(10))).DisposeAsync();
        _out.WriteLine($"admitted {sw.ElapsedMilliseconds} ms after the release");
        Assert.True(sw.ElapsedMilliseconds < 2000, $"admission took {sw.ElapsedMilliseconds} ms");
        await held2.DisposeAsync();
    }

    // ---- MaxCount disagreement racing from empty --------------------------------------------------------------------

    [Fact]
    public async Task Break_MaxCount_disagreement_racing_from_empty_never_admits_more_than_the_smallest_agreeing()
    {
        var a = NewProvider();
        var b = NewProvider();
        for (int round = 0; round < 30; round++)
        {
            string key = UniqueKey("sem-race");
            var holders = new List<(int Max, EtcdLockHandle H)>();
            var gate = new TaskCompletionSource();
            async Task One(IEtcdLockProvider p, int max)
            {
                await gate.Task;
                try
                {
                    EtcdLockHandle? h = await p.TryAcquireSemaphoreAsync(key, max, s_ttl);
                    if (h is not null)
                    {
                        lock (holders)
                        {
                            holders.Add((max, h));
                        }
                    }
                }
                catch (InvalidOperationException)
                {
                }
            }

            Task all = Task.WhenAll(Enumerable.Range(0, 8).Select(i => Task.Run(() => One(i % 2 == 0 ? a : b, i % 4 < 2 ? 1 : 3))));
            gate.SetResult();
            await all;
            int ones = holders.Count(h => h.Max == 1), threes = holders.Count(h => h.Max == 3);
            foreach ((int _, EtcdLockHandle h) in holders)
            {
                await h.DisposeAsync();
            }

            Assert.True(ones <= 1 && (ones == 0 || threes == 0) && threes <= 3, $"round {round}: {ones} holders with MaxCount 1 and {threes} with MaxCount 3 at once");
        }
    }

    // ---- more election attacks ---------------------------------------------------------------------------------------

    [Fact]
    public async Task Break_Two_RunAsync_overlap_even_when_the_body_stops_at_once_on_its_token()
    {
        var a = NewProvider();
        string election = UniqueKey("el-two-bodies-prompt");
        int running = 0, most = 0;
        var firstStarted = new TaskCompletionSource<string>();
        using var stop = new CancellationTokenSource();
        var log = new System.Collections.Concurrent.ConcurrentQueue<string>();
        var sw = Stopwatch.StartNew();
        async Task Body(CancellationToken token)
        {
            int now = Interlocked.Increment(ref running);
            InterlockedMax(ref most, now);
            log.Enqueue($"{sw.ElapsedMilliseconds} ms: body starts ({now} running)");
            try
            {
                firstStarted.TrySetResult(EtcdLockContext.Current!.Key);
                await Task.Delay(Timeout.Infinite, token); // stops the moment it is told
            }
            finally
            {
                log.Enqueue($"{sw.ElapsedMilliseconds} ms: body ends");
                Interlocked.Decrement(ref running);
            }
        }

        Task r1 = EtcdLeadership.RunAsync(a, election, s_ttl, Body, stop.Token);
        Task r2 = EtcdLeadership.RunAsync(a, election, s_ttl, Body, stop.Token);
        string leaderKey = await firstStarted.Task.WaitAsync(TimeSpan.FromSeconds(10));
        await Task.Delay(300);
        log.Enqueue($"{sw.ElapsedMilliseconds} ms: leader key deleted");
        await Client.DeleteAsync(leaderKey);
        await Task.Delay(7000);
        int seen = Volatile.Read(ref most);
        stop.Cancel();
        await Task.WhenAll(r1, r2).WaitAsync(TimeSpan.FromSeconds(20));
        foreach (string line in log)
        {
            _out.WriteLine(line);
        }

        Assert.True(seen <= 1, $"{seen} bodies of one election ran at once in one process");
    }

    [Fact]
    public async Task Break_An_old_leader_whose_key_is_deleted_is_told_within_a_third_of_its_ttl()
    {
        // Across processes the same: how long does the old leader keep believing after its key is deleted?
        var a = NewProvider();
        var b = NewProvider();
        string election = UniqueKey("el-cross");
        EtcdLockHandle la = await a.CampaignAsync(election, s_ttl);
        Task<EtcdLockHandle> lb = b.CampaignAsync(election, s_ttl).AsTask();
        await Task.Delay(300);
        var sw = Stopwatch.StartNew();
        await Client.DeleteAsync(la.Key);
        EtcdLockHandle got = await lb.WaitAsync(TimeSpan.FromSeconds(10));
        long newLeaderAt = sw.ElapsedMilliseconds;
        await Eventually(() => Task.FromResult(la.IsLost), TimeSpan.FromSeconds(20), "old leader told");
        long toldAt = sw.ElapsedMilliseconds;
        _out.WriteLine($"new leader at {newLeaderAt} ms, old leader told at {toldAt} ms");
        await la.DisposeAsync();
        await got.DisposeAsync();
        // As for a lock: a held key is watched from its first renewal on (TTL/3, 5 s here; docs/reliability.md), so a
        // delete within the first third of the TTL is noticed then. Meanwhile the new leader leads, and the old one's
        // guarded writes are refused by etcd; the bound asserted is that third plus slack.
        Assert.True(toldAt < 7_000, $"the old leader was told {toldAt} ms after its key was deleted (new leader at {newLeaderAt} ms)");
    }

    [Fact]
    public async Task Break_RunAsync_body_that_throws_at_once_backs_off_and_leaves_no_candidate()
    {
        var a = NewProvider();
        string election = UniqueKey("el-throw");
        int bodies = 0;
        using var stop = new CancellationTokenSource();
        Task run = EtcdLeadership.RunAsync(a, election, s_ttl, _ =>
        {
            Interlocked.Increment(ref bodies);
            throw new InvalidOperationException("boom");
        }, stop.Token);
        await Task.Delay(6500);
        int n = Volatile.Read(ref bodies);
        stop.Cancel();
        await run.WaitAsync(TimeSpan.FromSeconds(10));
        _out.WriteLine($"{n} bodies in 6.5 s");
        Assert.InRange(n, 2, 4); // 0 s, 1 s, 3 s (backoff 1, 2, 4)
        await Eventually(async () => (await Client.GetRangeAsync(Prefix + election + "/")).Kvs.Count == 0, TimeSpan.FromSeconds(5), "no candidate key left");
    }

    [Fact]
    public async Task Break_RunAsync_stop_while_body_ignores_token_resigns_when_it_returns_and_leaves_nothing()
    {
        var a = NewProvider();
        var b = NewProvider();
        string election = UniqueKey("el-ignore");
        using var stop = new CancellationTokenSource();
        var started = new TaskCompletionSource();
        Task run = EtcdLeadership.RunAsync(a, election, s_ttl, async _ =>
        {
            started.TrySetResult();
            await Task.Delay(1500); // ignores its token
        }, stop.Token);
        await started.Task.WaitAsync(TimeSpan.FromSeconds(10));
        stop.Cancel();
        await run.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Null(await b.GetLeaderAsync(election));
        Assert.Empty(EtcdLeadership.Roles(a));
    }

    // ---- dispose during waits ----------------------------------------------------------------------------------------

    [Fact]
    public async Task Break_Dispose_during_many_waits_ends_them_and_leaves_no_ticket()
    {
        var a = NewProvider();
        var b = NewProvider();
        string key = UniqueKey("sem-dispose");
        string rw = UniqueKey("rw-dispose");
        string el = UniqueKey("el-dispose");
        await using EtcdLockHandle held = await a.AcquireSemaphoreAsync(key, 1, s_ttl);
        await using EtcdLockHandle w = await a.AcquireWriteLockAsync(rw, s_ttl);
        await using EtcdLockHandle l = await a.CampaignAsync(el, s_ttl);
        var waits = new List<Task>();
        for (int i = 0; i < 40; i++)
        {
            waits.Add(b.AcquireSemaphoreAsync(key, 1, s_ttl).AsTask());
            waits.Add(b.AcquireReadLockAsync(rw, s_ttl).AsTask());
            waits.Add(b.CampaignAsync(el, s_ttl).AsTask());
        }

        await Task.Delay(1000);
        var sw = Stopwatch.StartNew();
        await b.DisposeAsync();
        foreach (Task t in waits)
        {
            Exception? ex = await Record.ExceptionAsync(() => t.WaitAsync(TimeSpan.FromSeconds(10)));
            Assert.IsType<ObjectDisposedException>(ex);
        }

        _out.WriteLine($"all waits ended {sw.ElapsedMilliseconds} ms after dispose began");
        await Eventually(async () => (await Client.GetRangeAsync(Prefix + key + "/")).Kvs.Count == 1
            && (await Client.GetRangeAsync(Prefix + rw + "/")).Kvs.Count == 1
            && (await Client.GetRangeAsync(Prefix + el + "/")).Kvs.Count == 1, TimeSpan.FromSeconds(5), "only the holders' keys left");
    }

    // ---- a lost answer to the put transaction ------------------------------------------------------------------------

    /// <summary>Sends each of the first <see cref="Count"/> ticket puts twice: the first answer is dropped (committed), the retry's returned.</summary>
    private sealed class DuplicateTicketPut : Interceptor
    {
        public int Count = 100;

        public int Duplicated;

        public override AsyncUnaryCall<TResponse> AsyncUnaryCall<TRequest, TResponse>(TRequest request, ClientInterceptorContext<TRequest, TResponse> context, AsyncUnaryCallContinuation<TRequest, TResponse> continuation)
        {
            if (request is not TxnRequest txn || txn.Success.Count == 0 || txn.Success[0].RequestPut is not { } put || !put.Key.ToStringUtf8().Contains("/#", StringComparison.Ordinal)
                || Interlocked.Decrement(ref Count) < 0)
            {
                return continuation(request, context);
            }

            async Task<TResponse> Twice()
            {
                await continuation(request, context).ResponseAsync; // committed; the answer is lost
                Interlocked.Increment(ref Duplicated);
                return await continuation(request, context).ResponseAsync; // the client's retry
            }

            return new AsyncUnaryCall<TResponse>(Twice(), Task.FromResult(new Metadata()), () => Status.DefaultSuccess, () => new Metadata(), () => { });
        }
    }

    [Fact]
    public async Task Break_A_retried_ticket_put_is_recognised_for_every_kind()
    {
        var dup = new DuplicateTicketPut();
        var a = NewProvider(interceptors: new Interceptor[] { dup });
        var b = NewProvider();
        string key = UniqueKey("retry");
        // Uncontended.
        await (await a.AcquireSemaphoreAsync(key + "s", 2, s_ttl)).DisposeAsync();
        await (await a.AcquireReadLockAsync(key + "r", s_ttl)).DisposeAsync();
        await (await a.AcquireWriteLockAsync(key + "w", s_ttl)).DisposeAsync();
        await (await a.CampaignAsync(key + "l", s_ttl)).DisposeAsync();
        // Contended: one holder in b, the retried caller queues and must get in after it.
        EtcdLockHandle hs = await b.AcquireSemaphoreAsync(key + "s", 1, s_ttl);
        Task<EtcdLockHandle> ws = a.AcquireSemaphoreAsync(key + "s", 1, s_ttl).AsTask();
        EtcdLockHandle hw = await b.AcquireWriteLockAsync(key + "w", s_ttl);
        Task<EtcdLockHandle> ww = a.AcquireWriteLockAsync(key + "w", s_ttl).AsTask();
        await Task.Delay(300);
        Assert.False(ws.IsCompleted);
        Assert.False(ww.IsCompleted);
        await hs.DisposeAsync();
        await hw.DisposeAsync();
        await (await ws.WaitAsync(TimeSpan.FromSeconds(10))).DisposeAsync();
        await (await ww.WaitAsync(TimeSpan.FromSeconds(10))).DisposeAsync();
        _out.WriteLine($"{dup.Duplicated} puts duplicated");
        Assert.True(dup.Duplicated >= 6);
        foreach (string k in new[] { "s", "r", "w", "l" })
        {
            Assert.Empty((await Client.GetRangeAsync(Prefix + key + k + "/")).Kvs);
        }
    }

    // ---- own ticket deleted while waiting (non-semaphore) ------------------------------------------------------------

    [Fact]
    public async Task Break_Candidate_whose_ticket_is_deleted_while_waiting_still_gets_in()
    {
        var a = NewProvider();
        var b = NewProvider();
        string el = UniqueKey("el-del-wait");
        EtcdLockHandle la = await a.CampaignAsync(el, s_ttl);
        Task<EtcdLockHandle> lb = b.CampaignAsync(el, s_ttl).AsTask();
        await Task.Delay(300);
        RangeResponse cands = await Client.GetRangeAsync(Prefix + el + "/#leader/");
        Assert.Equal(2, cands.Kvs.Count);
        string bKey = cands.Kvs.Single(k => k.Key.ToStringUtf8() != la.Key).Key.ToStringUtf8();
        await Client.DeleteAsync(bKey);
        await Task.Delay(1000);
        await la.DisposeAsync();
        EtcdLockHandle got = await lb.WaitAsync(TimeSpan.FromSeconds(15));
        Assert.False(got.IsLost);
        Assert.Equal(b.HolderId, (await a.GetLeaderAsync(el))?.Holder);
        await got.DisposeAsync();
    }

    // ---- nesting of kinds ---------------------------------------------------------------------------------------------

    [Fact]
    public async Task Break_Nested_semaphore_call_with_another_MaxCount_is_not_checked()
    {
        var a = NewProvider();
        string key = UniqueKey("sem-nest");
        await using EtcdLockScope outer = await EtcdLockInvocation.EnterSemaphoreAsync(a, key, 1, 15, -1, LockBusyBehavior.Throw, default);
        Exception? ex = await Record.ExceptionAsync(async () =>
        {
            await using EtcdLockScope inner = await EtcdLockInvocation.EnterSemaphoreAsync(a, key, 5, 15, 0, LockBusyBehavior.Throw, default);
            _out.WriteLine($"inner acquired={inner.Acquired} nested={inner.Handle?.IsNested}");
        });
        _out.WriteLine(ex?.ToString() ?? "no exception: the inner MaxCount 5 ran under the outer MaxCount 1 ticket");
        Assert.IsType<InvalidOperationException>(ex);
    }

    [Fact]
    public async Task Break_Write_in_read_in_write_of_the_same_key_is_refused_though_the_outer_write_holds()
    {
        var a = NewProvider();
        string key = UniqueKey("rw-nest");
        await using EtcdLockScope w = await EtcdLockInvocation.EnterWriteLockAsync(a, key, 15, -1, LockBusyBehavior.Throw, default);
        await using EtcdLockScope r = await EtcdLockInvocation.EnterReadLockAsync(a, key, 15, 0, LockBusyBehavior.Throw, default);
        Assert.True(r.Handle?.IsNested);
        Exception? ex = await Record.ExceptionAsync(async () =>
        {
            await using EtcdLockScope w2 = await EtcdLockInvocation.EnterWriteLockAsync(a, key, 15, 0, LockBusyBehavior.Throw, default);
        });
        _out.WriteLine(ex?.ToString() ?? "no exception");
        Assert.Null(ex);
    }

    private static void InterlockedMax(ref int target, int value)
    {
        int seen;
        while ((seen = Volatile.Read(ref target)) < value && Interlocked.CompareExchange(ref target, value, seen) != seen)
        {
        }
    }
}
