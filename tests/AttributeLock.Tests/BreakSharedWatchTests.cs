using System.Collections.Concurrent;
using System.Diagnostics;
using AttributeLock.Engine.Session;
using Etcdserverpb;
using Google.Protobuf;
using Grpc.Core;
using Grpc.Core.Interceptors;
using Xunit.Abstractions;

namespace AttributeLock.Tests;

/// <summary>
/// Adversarial tests of the semaphore's shared watch of deletes (SharedDeletes: restarts from the woken waiters'
/// reads, backoff after short-lived watches, linger after the last subscriber), written as reproductions by a review.
/// They run alone (some make every watch fail, one compacts etcd). Findings (2026-12-03, at 82c6346):
/// the backoff is never reset by a healthy watch that its linger stops, so after a burst of failures every later watch
/// of the family waits 5 s (a waiter admitted 4.7 s after its turn, recheck 30 s); a revision whose deletes exceed
/// gRPC's 4 MB answer limit makes every watch fail (ResourceExhausted) from the same bases, forever (7 watches and 8
/// reads per waiter in 15 s, admission ~4-5 s late); the linger is timed from the first time the subscribers went to
/// zero (4 watches restarted in 15 s for a waiter out only 0.4 s per read); _restartFrom outlives the subscribers it
/// was for (a fresh waiter's watch starts from compacted history: refused, an extra read and countAll); a backoff cut
/// short by dispose still opens a watch stream (1-7 seen); three watch ends 100 ms apart for 600 waiters cost, in one
/// run of three, 112 countAll reads (15,736 keys; one end: 0), as waiters still reading after an end come back with
/// bases older than the next watch's start. Held: at most MaxCount inside throughout; no unobserved task exception.
/// </summary>
[Collection(nameof(AdversarialCollection))]
public sealed class BreakSharedWatchTests : SemaphoreAttackTestBase
{
    private readonly ITestOutputHelper _out;

    public BreakSharedWatchTests(ITestOutputHelper output) => _out = output;


    private static EtcdLockOptions Opts(int ttl = 15, int waitSeconds = 60) => new() { TtlSeconds = ttl, WaitTimeout = TimeSpan.FromSeconds(waitSeconds) };

    private async Task<int> TicketsAsync(string fullKey) => (await Client.GetRangeAsync(fullKey + "/#sem/")).Kvs.Count;

    // ---------------------------------------------------------------------------------------------------------------
    // Attack 1: the backoff counter is reset only by a watch that ends as the current one (Ended); a healthy watch
    // stopped by its linger (StopUnlessUsedAsync) leaves it as it was, so every later watch of the family waits.
    // ---------------------------------------------------------------------------------------------------------------

    [Fact]
    public async Task A_healthy_watch_ends_the_backoff_so_later_waits_do_not_stall()
    {
        var spy = new Instrument();
        var p = NewProvider(interceptors: new Interceptor[] { spy }, tune: Recheck(TimeSpan.FromSeconds(30)));
        string key = UniqueKey("sw-backoff");
        string fullKey = Prefix + key;
        const int max = 2;
        // A hold of this process keeps the semaphore's places (and its shared watch) alive, as a long-running holder does.
        await using EtcdLockHandle held = await p.AcquireSemaphoreAsync(key, max, Opts(ttl: 30, waitSeconds: 10));
        await PutFakeTicketsAsync(fullKey, max, 1); // full: our hold and another holder's

        // 1. For 10 s every watch fails at once (an etcd restart, a proxy dropping streams): the backoff grows to 5 s.
        using (var cts = new CancellationTokenSource())
        {
            Task w1 = p.AcquireSemaphoreAsync(key, max, Opts(), cts.Token).AsTask();
            spy.FailWatches = true;
            await Task.Delay(10_000);
            int failed = spy.WatchesOpened;
            spy.FailWatches = false;
            // 2. Then watches work: the next one lives for seconds; the waiter leaves, the watch lingers 2 s and stops.
            await Task.Delay(9_000);
            cts.Cancel();
            await Record.ExceptionAsync(() => w1);
            _out.WriteLine($"{failed} watches opened while they failed; {spy.WatchesOpened} by the time the waiter left");
        }

        await Task.Delay(4_000);

        // 3. Later, a new waiter; its turn comes 300 ms into its wait.
        int opened = spy.WatchesOpened;
        Task<EtcdLockHandle> w2 = p.AcquireSemaphoreAsync(key, max, Opts()).AsTask();
        await Eventually(async () => await TicketsAsync(fullKey) == 3, TimeSpan.FromSeconds(10), "the new waiter's ticket put");
        await Task.Delay(300);
        var released = Stopwatch.StartNew();
        await Client.DeleteAsync($"{fullKey}/#sem/fake-00000");
        await using EtcdLockHandle h2 = await w2.WaitAsync(TimeSpan.FromSeconds(45));
        TimeSpan admitted = released.Elapsed;
        _out.WriteLine($"admitted {admitted.TotalMilliseconds:0} ms after its turn came (recheck 30 s); watches opened since: {spy.WatchesOpened - opened}; {spy.Summary()}");
        await h2.DisposeAsync();
        await held.DisposeAsync();
        await Client.DeleteRangeAsync(fullKey + "/");
        Assert.True(admitted < TimeSpan.FromSeconds(2), $"admitted {admitted.TotalMilliseconds:0} ms after its turn came: its watch waited out a backoff earned by watches that failed long before");
    }

    // ---------------------------------------------------------------------------------------------------------------
    // Attack 2: the shared watch ends again while the waiters woken by the last end are still reading: _restartFrom
    // then covers only those subscribed at that moment; the late ones (older bases) are told Unknown and countAll.
    // Then: watch ends during the drain (waiters mid-read are in nobody's _restartFrom). Safety checked throughout.
    // ---------------------------------------------------------------------------------------------------------------

    [Fact]
    public async Task Watch_ends_in_quick_succession_or_during_a_drain_cost_no_counts()
    {
        var spy = new Instrument();
        var p = NewProvider(interceptors: new Interceptor[] { spy }, tune: Recheck(TimeSpan.FromSeconds(30)));
        string key = UniqueKey("sw-flap");
        const int n = 600, max = 4;
        int inside = 0, most = 0, done = 0;
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var opts = new EtcdLockOptions { TtlSeconds = 20, WaitTimeout = TimeSpan.FromMinutes(4) };

        async Task Worker()
        {
            EtcdLockHandle h;
            while (true)
            {
                try
                {
                    h = await p.AcquireSemaphoreAsync(key, max, opts);
                    break;
                }
                catch (EtcdLockUnavailableException ex) when (ex.IsTransient)
                {
                    await Task.Delay(200);
                }
            }

            await using (h)
            {
                int now = Interlocked.Increment(ref inside);
                InterlockedMax(ref most, now);
                await gate.Task;
                await Task.Delay(2);
                Interlocked.Decrement(ref inside);
            }

            Interlocked.Increment(ref done);
        }

        Task all = Task.WhenAll(Enumerable.Range(0, n).Select(_ => Task.Run(Worker)));
        await Eventually(async () => await TicketsAsync(Prefix + key) == n, TimeSpan.FromMinutes(2), "every ticket put");
        await Task.Delay(3000);
        _out.WriteLine($"settled: {spy.Summary()}");
        spy.Reset();

        // One end (the reference: BreakSemaphoreCountTests measured <= n/20 countAll for it).
        int k1 = spy.KillWatches();
        await Task.Delay(5000);
        string single = spy.Summary();
        int singleCountAll = spy.CountAlls, singleReads = spy.Reads;
        _out.WriteLine($"one end ({k1} stream): {single}");
        spy.Reset();

        // Three ends 100 ms apart (a flapping connection, a leader change right after another).
        int k2 = 0;
        for (int i = 0; i < 3; i++)
        {
            k2 += spy.KillWatches();
            await Task.Delay(100);
        }

        await Task.Delay(6000);
        string flap = spy.Summary();
        int flapCountAll = spy.CountAlls, flapKeys = spy.CountAllKeys, flapReads = spy.Reads;
        _out.WriteLine($"three ends 100 ms apart ({k2} streams): {flap}");
        spy.Reset();

        // 3 s of watches that fail at once (then work again): each failure wakes whoever is subscribed at that moment.
        spy.FailWatches = true;
        spy.KillWatches();
        await Task.Delay(3000);
        spy.FailWatches = false;
        await Task.Delay(7000);
        int failCountAll = spy.CountAlls, failKeys = spy.CountAllKeys, failReads = spy.Reads;
        _out.WriteLine($"3 s of failing watches, then 7 s: {spy.Summary()}");
        spy.Reset();

        // Drain, with the watch ended every 1.5 s while waiters go in and out.
        var drain = Stopwatch.StartNew();
        gate.SetResult();
        int drainKills = 0;
        while (!all.IsCompleted && drain.Elapsed < TimeSpan.FromMinutes(4))
        {
            await Task.WhenAny(all, Task.Delay(1500));
            drainKills += spy.KillWatches();
        }

        _out.WriteLine($"drain: {Volatile.Read(ref done)} of {n} in {drain.Elapsed}, {drainKills} watch ends; at most {most} inside; {spy.Summary()}");
        _out.WriteLine($"drain: {(spy.Puts + spy.Reads + spy.CountAlls) / (double)n:0.00} transactions per waiter, countAll {spy.CountAlls / (double)n:0.00} per waiter");
        Assert.True(all.IsCompleted, $"only {Volatile.Read(ref done)} of {n} got through");
        await all;
        Assert.True(most <= max, $"{most} inside at once (MaxCount {max})");
        _out.WriteLine($"countAll: one end {singleCountAll} (reads {singleReads}), three ends {flapCountAll} ({flapKeys} keys, reads {flapReads}), failing watches {failCountAll} ({failKeys} keys, reads {failReads})");
        Assert.True(failCountAll <= n / 20, $"{failCountAll} countAll reads ({failKeys} keys) after 3 s of failing watches for {n} waiters");
        Assert.True(flapCountAll <= n / 20, $"{flapCountAll} countAll reads ({flapKeys} keys) after three ends of the shared watch 100 ms apart for {n} waiters (one end: {singleCountAll})");
    }

    // ---------------------------------------------------------------------------------------------------------------
    // Attack 3: provider dispose while the next watch waits out its backoff: no watch opened after dispose, no
    // unobserved task exception, dispose not held up by the backoff.
    // ---------------------------------------------------------------------------------------------------------------

    [Fact]
    public async Task Dispose_during_the_watch_backoff_opens_no_watch_and_leaves_no_unobserved_exception()
    {
        for (int i = 0; i < 2; i++)
        {
            GC.Collect();
            GC.WaitForPendingFinalizers();
        }

        var unobserved = new ConcurrentQueue<Exception>();
        EventHandler<UnobservedTaskExceptionEventArgs> onUnobserved = (_, e) => unobserved.Enqueue(e.Exception);
        TaskScheduler.UnobservedTaskException += onUnobserved;
        int openedAfterDispose;
        try
        {
            var spy = new Instrument();
            var p = NewProvider(interceptors: new Interceptor[] { spy }, tune: Recheck(TimeSpan.FromSeconds(30)));
            string key = UniqueKey("sw-dispose");
            string fullKey = Prefix + key;
            await PutFakeTicketsAsync(fullKey, 1, 1);
            Task[] waiters = Enumerable.Range(0, 20).Select(_ => p.AcquireSemaphoreAsync(key, 1, Opts()).AsTask()).ToArray();
            await Eventually(async () => await TicketsAsync(fullKey) == 21, TimeSpan.FromSeconds(10), "tickets put");
            spy.FailWatches = true;
            spy.KillWatches();
            await Task.Delay(4500); // failures at 0, .25, .75, 1.75, 3.75 s: the next watch waits 4 s
            int opened = spy.WatchesOpened;
            spy.TraceOpens = true;
            _out.WriteLine($"{DateTime.UtcNow:HH:mm:ss.fff} dispose");
            var sw = Stopwatch.StartNew();
            await p.DisposeAsync();
            TimeSpan disposing = sw.Elapsed;
            foreach (Task w in waiters)
            {
                Exception? ex = await Record.ExceptionAsync(() => w.WaitAsync(TimeSpan.FromSeconds(10)));
                Assert.IsType<ObjectDisposedException>(ex);
            }

            await Task.Delay(6000);
            int after = spy.WatchesOpened - opened;
            _out.WriteLine($"dispose took {disposing.TotalMilliseconds:0} ms; {opened} watches opened before it, {after} after; {spy.Summary()}");
            foreach (string t in spy.OpenTraces)
            {
                _out.WriteLine("opened: " + t);
            }
            await Client.DeleteRangeAsync(fullKey + "/");
            openedAfterDispose = after;
            Assert.True(disposing < TimeSpan.FromSeconds(3), $"dispose took {disposing}");
            for (int i = 0; i < 3; i++)
            {
                GC.Collect();
                GC.WaitForPendingFinalizers();
                await Task.Delay(100);
            }
        }
        finally
        {
            TaskScheduler.UnobservedTaskException -= onUnobserved;
        }

        _out.WriteLine($"{unobserved.Count} unobserved task exceptions");
        Assert.True(unobserved.IsEmpty, $"{unobserved.Count} unobserved task exceptions, e.g.: {unobserved.FirstOrDefault()?.InnerException}");
        Assert.True(openedAfterDispose == 0, $"{openedAfterDispose} watch streams opened by the shared watch after the provider's dispose began");
    }

    // ---------------------------------------------------------------------------------------------------------------
    // Attack 4: _restartFrom outlives the subscribers it was computed for (they left without subscribing again): a
    // later waiter, whose read is fresh, starts the watch from that old revision; compacted since, etcd refuses it.
    // ---------------------------------------------------------------------------------------------------------------

    [Fact]
    public async Task A_fresh_waiter_after_a_compaction_never_counts_for_a_waiter_that_left()
    {
        var spy = new Instrument();
        var p = NewProvider(interceptors: new Interceptor[] { spy }, tune: Recheck(TimeSpan.FromSeconds(30)));
        string key = UniqueKey("sw-stale");
        string fullKey = Prefix + key;
        const int max = 2;
        await using EtcdLockHandle held = await p.AcquireSemaphoreAsync(key, max, Opts(ttl: 30));
        await PutFakeTicketsAsync(fullKey, max, 5);

        // A waiter is woken by an end of the watch (_restartFrom = its read) and leaves during its read.
        using (var cts = new CancellationTokenSource())
        {
            Task w1 = p.AcquireSemaphoreAsync(key, max, Opts(), cts.Token).AsTask();
            await Eventually(async () => await TicketsAsync(fullKey) == 7, TimeSpan.FromSeconds(10), "w1's ticket");
            await Task.Delay(1500);
            spy.ReadDelayMs = 3000;
            spy.KillWatches();
            await Task.Delay(500);
            cts.Cancel();
            await Record.ExceptionAsync(() => w1);
            spy.ReadDelayMs = 0;
        }

        // Minutes later etcd has compacted (its auto-compaction).
        PutResponse last = await Client.PutAsync(fullKey + "-marker", "x");
        await Client.CompactAsync(new CompactionRequest { Revision = last.Header.Revision, Physical = true });
        await Client.DeleteAsync(fullKey + "-marker");
        spy.Reset();
        int opened = spy.WatchesOpened;

        // A new waiter, whose read is after the compaction.
        Task<EtcdLockHandle> w2 = p.AcquireSemaphoreAsync(key, max, Opts()).AsTask();
        await Eventually(async () => await TicketsAsync(fullKey) == 7, TimeSpan.FromSeconds(10), "w2's ticket");
        await Task.Delay(1500);
        string quiet = spy.Summary();
        int countAll = spy.CountAlls, reads = spy.Reads, watches = spy.WatchesOpened - opened;
        var released = Stopwatch.StartNew();
        for (int j = 0; j < 5; j++)
        {
            await Client.DeleteAsync($"{fullKey}/#sem/fake-{j:D5}");
        }

        await using EtcdLockHandle h2 = await w2.WaitAsync(TimeSpan.FromSeconds(40));
        TimeSpan admitted = released.Elapsed;
        _out.WriteLine($"fresh waiter: {quiet}; {watches} watches opened in its first 1.5 s; admitted {admitted.TotalMilliseconds:0} ms after its turn");
        await h2.DisposeAsync();
        await held.DisposeAsync();
        await Client.DeleteRangeAsync(fullKey + "/");
        // The restart revision of a waiter that left is used only within a Linger of the watch's end; here the fresh
        // waiter comes within it, so its first watch may be refused as compacted: it then restarts from its own read
        // (one bounded read, one more watch), and never counts (was: a count read and a backoff).
        Assert.True(countAll == 0 && reads <= 1 && watches <= 2, $"a waiter whose read follows the compaction, in its first 1.5 s: {reads} bounded reads, {countAll} countAll reads, {watches} watches");
        Assert.True(admitted < TimeSpan.FromSeconds(3), $"admitted {admitted} after its turn");
    }

    // ---------------------------------------------------------------------------------------------------------------
    // Attack 5: one revision deletes more than gRPC's 4 MB answer limit of tickets (an admin's delete of a prefix, a
    // transaction; long keys). Every watch that replays that revision fails; the next starts from the waiters'
    // unchanged bases (before that revision) and fails again: a loop of failed watches, every one waking every waiter.
    // ---------------------------------------------------------------------------------------------------------------

    [Fact]
    public async Task A_revision_whose_deletes_exceed_the_answer_limit_is_watched_in_fragments()
    {
        var spy = new Instrument();
        var p = NewProvider(interceptors: new Interceptor[] { spy }, tune: Recheck(TimeSpan.FromSeconds(30)));
        string key = UniqueKey("sw-fat");
        string fullKey = Prefix + key;
        const int max = 2, small = 10, fat = 800, waiters = 20;
        await PutFakeTicketsAsync(fullKey, max, small);
        ByteString value = ByteString.CopyFromUtf8($"maxCount={max};fake-holder");
        string pad = new string('x', 3000);
        for (int i = 0; i < fat; i += 50)
        {
            var txn = new TxnRequest();
            for (int j = i; j < i + 50; j++)
            {
                txn.Success.Add(new RequestOp { RequestPut = new PutRequest { Key = ByteString.CopyFromUtf8($"{fullKey}/#sem/fat-{j:D4}-{pad}"), Value = value } });
            }

            await Client.TransactionAsync(txn);
        }

        int admittedCount = 0;
        var firstAdmitted = new TaskCompletionSource<TimeSpan>(TaskCreationOptions.RunContinuationsAsynchronously);
        var sinceTurn = new Stopwatch();
        using var cts = new CancellationTokenSource();
        Task[] all = Enumerable.Range(0, waiters).Select(_ => Task.Run(async () =>
        {
            try
            {
                await using EtcdLockHandle h = await p.AcquireSemaphoreAsync(key, max, Opts(waitSeconds: 120), cts.Token);
                Interlocked.Increment(ref admittedCount);
                firstAdmitted.TrySetResult(sinceTurn.Elapsed);
                await Task.Delay(Timeout.Infinite, cts.Token);
            }
            catch (OperationCanceledException)
            {
            }
        })).ToArray();
        await Eventually(async () => await TicketsAsync(fullKey) == small + fat + waiters, TimeSpan.FromSeconds(30), "every ticket put");
        await Task.Delay(2000);
        spy.Reset();
        int opened = spy.WatchesOpened;

        // One delete of the long-keyed tickets (one revision, ~5 MB of events with their previous values).
        await Client.DeleteRangeAsync(fullKey + "/#sem/fat-");
        await Task.Delay(15_000);
        int watches = spy.WatchesOpened - opened, reads = spy.Reads;
        string after = spy.Summary();

        // Then the small older tickets go one by one: the first waiters' turns come.
        sinceTurn.Start();
        for (int j = 0; j < small; j++)
        {
            await Client.DeleteAsync($"{fullKey}/#sem/fake-{j:D5}");
        }

        TimeSpan first = await firstAdmitted.Task.WaitAsync(TimeSpan.FromSeconds(90));
        _out.WriteLine($"15 s after one revision deleted {fat} long-keyed tickets: {watches} watches opened, {spy.WatchesOpened - opened} by the first admission; {after}; first admitted {first.TotalMilliseconds:0} ms after its turn (recheck 30 s); watch streams failed: [{string.Join(", ", spy.WatchFailures.Select(f => $"{f.Key}={f.Value}"))}]");
        cts.Cancel();
        await Task.WhenAll(all).WaitAsync(TimeSpan.FromSeconds(30));
        await Client.DeleteRangeAsync(fullKey + "/");
        Assert.True(watches <= 1 && reads <= waiters, $"15 s after one large delete: {watches} watches opened, {reads} bounded reads by {waiters} waiters whose turn had not come; first admitted {first.TotalMilliseconds:0} ms after its turn");
    }

    // ---------------------------------------------------------------------------------------------------------------
    // Attack 6: the linger is timed from the first time the subscribers went to zero, not the last: a waiter that is
    // out only for its reads (hundreds of ms) still sees its watch stopped and started anew again and again.
    // ---------------------------------------------------------------------------------------------------------------

    [Fact]
    public async Task A_waiter_out_only_for_its_reads_keeps_the_shared_watch()
    {
        var spy = new Instrument();
        var p = NewProvider(interceptors: new Interceptor[] { spy }, tune: Recheck(TimeSpan.FromSeconds(1)));
        string key = UniqueKey("sw-linger");
        string fullKey = Prefix + key;
        await PutFakeTicketsAsync(fullKey, 1, 1);
        using var cts = new CancellationTokenSource();
        Task w = p.AcquireSemaphoreAsync(key, 1, Opts(), cts.Token).AsTask();
        await Eventually(async () => await TicketsAsync(fullKey) == 2, TimeSpan.FromSeconds(10), "ticket put");
        spy.ReadDelayMs = 400; // a slow (loaded) etcd: each periodic read keeps the waiter out of the watch for 0.4 s
        await Task.Delay(2000);
        spy.Reset();
        int opened = spy.WatchesOpened;
        await Task.Delay(15_000);
        int watches = spy.WatchesOpened - opened;
        _out.WriteLine($"15 s, one waiter never out for more than ~0.4 s: {watches} watches opened; {spy.Summary()}");
        cts.Cancel();
        await Record.ExceptionAsync(() => w);
        await Client.DeleteRangeAsync(fullKey + "/");
        Assert.True(watches == 0, $"{watches} watches started in 15 s for one waiter that never left for more than its 0.4 s reads (Linger is 2 s)");
    }

}
