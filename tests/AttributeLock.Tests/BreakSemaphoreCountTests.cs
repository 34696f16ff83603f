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
/// Adversarial tests of the semaphore's wait counted from its last exact read (a594044), first written as
/// reproductions by a review: the keys-only read that counts the older tickets (countAll), the wakes when the shared
/// watch of deletes ends or etcd compacted past a waiter's read, and their cost. They run alone: some compact etcd.
/// Before the fixes: a countAll of ~1,100 tickets of 4 KB keys exceeded gRPC's 4 MB answer limit and turned a busy wait
/// into EtcdLockUnavailableException; one end of the shared watch cost 595 countAll reads (18 MB) for 600 waiters;
/// watches that kept failing made 50 waiters read 2,500 times in 3 s without backoff.
/// </summary>
[Collection(nameof(AdversarialCollection))]
public sealed class BreakSemaphoreCountTests : SemaphoreAttackTestBase
{
    private readonly ITestOutputHelper _out;

    public BreakSemaphoreCountTests(ITestOutputHelper output) => _out = output;



    /// <summary>
    /// Makes the deletes since every waiter's read uncountable: one older ticket goes (an event after their reads),
    /// etcd compacts past it, and the shared watches end (as at an etcd restart); the next watch, from the oldest read,
    /// is refused as compacted.
    /// </summary>
    private async Task ForgetHistoryAsync(string fullKey, int fakeToDelete, Instrument spy)
    {
        await Client.DeleteAsync($"{fullKey}/#sem/fake-{fakeToDelete:D5}");
        PutResponse last = await Client.PutAsync(fullKey + "-compact-marker", "x");
        await Client.CompactAsync(new CompactionRequest { Revision = last.Header.Revision, Physical = true });
        await Client.DeleteAsync(fullKey + "-compact-marker");
        spy.KillWatches();
    }

    private async Task DeleteFakeTicketsAsync(string fullKey, int from, int count)
    {
        for (int j = from; j < from + count; j++)
        {
            await Client.DeleteAsync($"{fullKey}/#sem/fake-{j:D5}");
        }
    }

    // ---------------------------------------------------------------------------------------------------------------
    // Attack A: a countAll read of every older key can exceed gRPC's 4 MB receive limit (long keys, ~1,000 tickets).
    // Before a594044 every read after the put was bounded (MaxCount tickets).
    // ---------------------------------------------------------------------------------------------------------------

    [Fact]
    public async Task A_count_of_older_tickets_with_4_KB_keys_stays_under_grpcs_limit_and_a_busy_wait_returns_null()
    {
        var spy = new Instrument();
        var p = NewProvider(interceptors: new Interceptor[] { spy }, tune: Recheck(TimeSpan.FromSeconds(2)));
        // A key just under MaxKeyBytes (4,096 with the prefix): each older ticket's key is ~4 KB, keys only.
        string key = UniqueKey("sem-big") + "/" + new string('k', 3950);
        string fullKey = Prefix + key;
        const int fakes = 1100, max = 1;
        await PutFakeTicketsAsync(fullKey, max, fakes);

        // Waits 12 s: a busy semaphore should give null (TryAcquire) at the end of the wait.
        var sw = Stopwatch.StartNew();
        Task<EtcdLockHandle?> waiter = p.TryAcquireSemaphoreAsync(key, max, new EtcdLockOptions { TtlSeconds = 15, WaitTimeout = TimeSpan.FromSeconds(12) }).AsTask();
        await Task.Delay(1500);
        Assert.False(waiter.IsCompleted);
        // The deletes since the waiter's read cannot be counted any more: its next read counts the older tickets.
        await ForgetHistoryAsync(fullKey, 0, spy);
        Exception? ex = await Record.ExceptionAsync(async () =>
        {
            EtcdLockHandle? h = await waiter;
            Assert.Null(h);
        });
        _out.WriteLine($"after {sw.Elapsed}: {spy.Summary()}");
        _out.WriteLine(ex?.ToString() ?? "returned null (busy), as it should");
        await Client.DeleteRangeAsync(fullKey + "/");
        Assert.Null(ex); // was: EtcdLockUnavailableException (ResourceExhausted), though etcd answered every read
        Assert.True(spy.CountAlls >= 1, "the compaction made the waiter count the older tickets");
        Assert.True(spy.CountAllBytes < 2 << 20, $"{spy.CountAllBytes} bytes in countAll answers");
    }

    [Fact]
    public async Task A_waiter_whose_deletes_cannot_be_counted_counts_once_then_watches_again()
    {
        var spy = new Instrument();
        var p = NewProvider(interceptors: new Interceptor[] { spy }, tune: Recheck(TimeSpan.FromSeconds(30)));
        string key = UniqueKey("sem-big2") + "/" + new string('k', 3950);
        string fullKey = Prefix + key;
        const int fakes = 1100, max = 1;
        await PutFakeTicketsAsync(fullKey, max, fakes);

        var sw = Stopwatch.StartNew();
        Task<EtcdLockHandle> waiter = p.AcquireSemaphoreAsync(key, max, new EtcdLockOptions { TtlSeconds = 15, WaitTimeout = TimeSpan.FromMinutes(2) }).AsTask();
        await Task.Delay(1500);
        await ForgetHistoryAsync(fullKey, 0, spy);
        await Task.Delay(10_000);
        string during = spy.Summary();
        _out.WriteLine($"10 s after the watch ended, nothing released (recheck interval 30 s): {during}");
        int readsWhileNothingMoved = spy.CountAlls;
        // Now release every fake ticket: the waiter should get in at once.
        var released = Stopwatch.StartNew();
        await Client.DeleteRangeAsync(fullKey + "/#sem/fake-");
        await using EtcdLockHandle h = await waiter;
        _out.WriteLine($"admitted {released.Elapsed} after the release; total {sw.Elapsed}: {spy.Summary()}");
        await h.DisposeAsync();
        await Client.DeleteRangeAsync(fullKey + "/");
        // A waiter whose queue did not move should count about once (recheck 30 s), not fetch 4 MB every 0.25-2 s.
        Assert.True(readsWhileNothingMoved is >= 1 and <= 2, $"{readsWhileNothingMoved} countAll reads in 10 s while nothing moved (1 expected: the compaction)");
    }

    // ---------------------------------------------------------------------------------------------------------------
    // Attack B: read storms. Many waiters in two providers; measure countAll reads at startup (subscription order
    // against the bases), on a shared-watch restart, and through the drain; never more than MaxCount inside.
    // ---------------------------------------------------------------------------------------------------------------

    [Fact]
    public async Task One_end_of_the_shared_watch_costs_each_waiter_a_bounded_read_and_no_count()
    {
        var spyA = new Instrument();
        var spyB = new Instrument();
        var a = NewProvider(interceptors: new Interceptor[] { spyA }, tune: Recheck(TimeSpan.FromSeconds(30)));
        var b = NewProvider(interceptors: new Interceptor[] { spyB }, tune: Recheck(TimeSpan.FromSeconds(30)));
        string key = UniqueKey("sem-storm");
        const int n = 600, max = 4;
        int inside = 0, most = 0, done = 0;
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var opts = new EtcdLockOptions { TtlSeconds = 20, WaitTimeout = TimeSpan.FromMinutes(4) };

        async Task Worker(IEtcdLockProvider p)
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

        var sw = Stopwatch.StartNew();
        Task all = Task.WhenAll(Enumerable.Range(0, n).Select(i => Task.Run(() => Worker(i % 2 == 0 ? a : b))));
        // Let every ticket be put and every waiter settle into its wait.
        await Eventually(async () => (await Client.GetRangeAsync(Prefix + key + "/#sem/")).Kvs.Count == n, TimeSpan.FromMinutes(2), "every ticket put");
        await Task.Delay(3000);
        string settle = $"A: {spyA.Summary()} | B: {spyB.Summary()}";
        _out.WriteLine($"settled after {sw.Elapsed}: {settle}");
        int settleCountAll = spyA.CountAlls + spyB.CountAlls;
        spyA.Reset();
        spyB.Reset();

        // The shared watch of each provider ends (as at an etcd restart or a leader change).
        int killed = spyA.KillWatches() + spyB.KillWatches();
        await Task.Delay(5000);
        string restart = $"A: {spyA.Summary()} | B: {spyB.Summary()}";
        _out.WriteLine($"{killed} watch(es) ended; 5 s later: {restart}");
        int restartCountAll = spyA.CountAlls + spyB.CountAlls;
        int restartKeys = spyA.CountAllKeys + spyB.CountAllKeys;
        spyA.Reset();
        spyB.Reset();

        // Drain: every hold goes in and out.
        var drain = Stopwatch.StartNew();
        gate.SetResult();
        Task finished = await Task.WhenAny(all, Task.Delay(TimeSpan.FromMinutes(4)));
        _out.WriteLine($"drain: {Volatile.Read(ref done)} of {n} in {drain.Elapsed}; at most {most} inside; A: {spyA.Summary()} | B: {spyB.Summary()}");
        int drainTxns = spyA.Puts + spyA.Reads + spyA.CountAlls + spyB.Puts + spyB.Reads + spyB.CountAlls;
        _out.WriteLine($"drain: {drainTxns / (double)n:0.00} semaphore transactions per waiter, countAll {(spyA.CountAlls + spyB.CountAlls) / (double)n:0.00} per waiter");
        Assert.True(finished == all, $"only {Volatile.Read(ref done)} of {n} got through");
        await all;
        Assert.True(most <= max, $"{most} inside at once (MaxCount {max})");
        _out.WriteLine($"countAll: {settleCountAll} while settling, {restartCountAll} ({restartKeys} keys) after one watch restart");
        // The next watch starts from the oldest of the woken waiters' reads, so their deletes are counted anew.
        Assert.True(restartCountAll <= n / 20, $"{restartCountAll} countAll reads after one watch restart for {n} waiters (was 595)");
    }

    [Fact]
    public async Task Watches_that_keep_failing_back_off_instead_of_making_every_waiter_read_in_a_loop()
    {
        var spy = new Instrument();
        var p = NewProvider(interceptors: new Interceptor[] { spy }, tune: Recheck(TimeSpan.FromSeconds(30)));
        string key = UniqueKey("sem-spin");
        string fullKey = Prefix + key;
        const int fakes = 200, waiters = 50, max = 2;
        await PutFakeTicketsAsync(fullKey, max, fakes);
        using var cts = new CancellationTokenSource();
        var opts = new EtcdLockOptions { TtlSeconds = 15, WaitTimeout = TimeSpan.FromMinutes(1) };
        Task[] all = Enumerable.Range(0, waiters).Select(_ => Task.Run(async () =>
        {
            try
            {
                await using EtcdLockHandle h = await p.AcquireSemaphoreAsync(key, max, opts, cts.Token);
            }
            catch (OperationCanceledException)
            {
            }
        })).ToArray();
        await Eventually(async () => (await Client.GetRangeAsync(fullKey + "/#sem/")).Kvs.Count == fakes + waiters, TimeSpan.FromSeconds(30), "every ticket put");
        await Task.Delay(1000);
        spy.Reset();
        int opened = spy.WatchesOpened;
        // Every watch fails from now on (reads still work): e.g. a proxy that drops watch streams.
        spy.FailWatches = true;
        spy.KillWatches();
        await Task.Delay(3000);
        string summary = spy.Summary();
        int countAlls = spy.CountAlls, reads = spy.Reads, watches = spy.WatchesOpened - opened;
        spy.FailWatches = false;
        cts.Cancel();
        await Task.WhenAll(all).WaitAsync(TimeSpan.FromSeconds(30));
        await Client.DeleteRangeAsync(fullKey + "/");
        _out.WriteLine($"3 s of failing watches, {waiters} waiters behind {fakes} tickets: {summary}; {watches} watches opened");
        _out.WriteLine($"{countAlls / (double)waiters / 3:0.0} countAll reads per waiter per second");
        // A waiter whose watch cannot run should fall back to its periodic reads (or back off), not read in a loop.
        Assert.True(countAlls <= waiters, $"{countAlls} countAll reads in 3 s for {waiters} waiters");
        // Watches restarted after 0, 250, 500, 1,000, 2,000 ms: about 5 reads per waiter (was 25, and 25 countAlls).
        Assert.True(reads <= waiters * 7, $"{reads} reads in 3 s for {waiters} waiters ({watches} watches opened)");
    }

    [Fact]
    public async Task A_lone_waiter_after_a_compaction_reads_once_and_gets_in_promptly()
    {
        var spy = new Instrument();
        var p = NewProvider(interceptors: new Interceptor[] { spy }, tune: Recheck(TimeSpan.FromSeconds(1)));
        string key = UniqueKey("sem-compact");
        string fullKey = Prefix + key;
        const int fakes = 50, max = 1;
        await PutFakeTicketsAsync(fullKey, max, fakes);
        Task<EtcdLockHandle> waiter = p.AcquireSemaphoreAsync(key, max, new EtcdLockOptions { TtlSeconds = 15, WaitTimeout = TimeSpan.FromMinutes(1) }).AsTask();
        await Task.Delay(1500);
        // Some older tickets go (counted by the watch), then the history is compacted past the waiter's base.
        await DeleteFakeTicketsAsync(fullKey, 0, 10);
        PutResponse last = await Client.PutAsync(fullKey + "-other", "x");
        await Client.CompactAsync(new CompactionRequest { Revision = last.Header.Revision, Physical = true });
        spy.Reset();
        await Task.Delay(8000); // ~3-5 periodic wakes, each restarting the lone waiter's watch from its base
        string quiet = spy.Summary();
        int quietCountAll = spy.CountAlls;
        var released = Stopwatch.StartNew();
        await DeleteFakeTicketsAsync(fullKey, 10, fakes - 10);
        await using EtcdLockHandle h = await waiter.WaitAsync(TimeSpan.FromSeconds(30));
        TimeSpan admitted = released.Elapsed;
        await h.DisposeAsync();
        await Client.DeleteRangeAsync(fullKey);
        await Client.DeleteRangeAsync(fullKey + "/");
        _out.WriteLine($"8 s after compaction: {quiet}; admitted {admitted} after the last release; total {spy.Summary()}");
        Assert.True(quietCountAll <= 2, $"{quietCountAll} countAll reads in 8 s of a quiet queue after one compaction");
        Assert.True(admitted < TimeSpan.FromSeconds(3), $"admitted {admitted} after its turn came");
    }

    // ---------------------------------------------------------------------------------------------------------------
    // Attack C: cancellation / timeout / dispose while a countAll read is in flight.
    // ---------------------------------------------------------------------------------------------------------------

    private async Task<(Instrument Spy, EtcdLockProvider P, string Key, string FullKey)> WaiterAtCountAllAsync(int fakes, int max)
    {
        var spy = new Instrument();
        var p = NewProvider(interceptors: new Interceptor[] { spy }, tune: Recheck(TimeSpan.FromSeconds(30)));
        string key = UniqueKey("sem-cancel");
        string fullKey = Prefix + key;
        await PutFakeTicketsAsync(fullKey, max, fakes);
        spy.CountAllDelayMs = 3000;
        spy.CountAllStarted = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        return (spy, p, key, fullKey);
    }

    [Fact]
    public async Task Cancelled_during_a_count_the_acquire_throws_OperationCanceled_and_leaves_no_ticket()
    {
        (Instrument spy, EtcdLockProvider p, string key, string fullKey) = await WaiterAtCountAllAsync(20, 2);
        using var cts = new CancellationTokenSource();
        Task<EtcdLockHandle> waiter = p.AcquireSemaphoreAsync(key, 2, new EtcdLockOptions { TtlSeconds = 15, WaitTimeout = TimeSpan.FromMinutes(1) }, cts.Token).AsTask();
        await Task.Delay(1000);
        await ForgetHistoryAsync(fullKey, 0, spy);
        await spy.CountAllStarted!.Task.WaitAsync(TimeSpan.FromSeconds(10));
        var sw = Stopwatch.StartNew();
        cts.Cancel();
        Exception? ex = await Record.ExceptionAsync(() => waiter.WaitAsync(TimeSpan.FromSeconds(10)));
        _out.WriteLine($"{sw.Elapsed}: {ex?.GetType().Name}: {ex?.Message}; {spy.Summary()}");
        Assert.IsAssignableFrom<OperationCanceledException>(ex);
        await Eventually(async () => (await Client.GetRangeAsync(fullKey + "/#sem/")).Kvs.Count == 19, TimeSpan.FromSeconds(10), "only the fake tickets left");
        await Client.DeleteRangeAsync(fullKey + "/");
    }

    [Fact]
    public async Task Timed_out_during_a_count_the_try_acquire_returns_null()
    {
        (Instrument spy, EtcdLockProvider p, string key, string fullKey) = await WaiterAtCountAllAsync(20, 2);
        Task<EtcdLockHandle?> waiter = p.TryAcquireSemaphoreAsync(key, 2, new EtcdLockOptions { TtlSeconds = 15, WaitTimeout = TimeSpan.FromSeconds(2.5) }).AsTask();
        await Task.Delay(1000);
        await ForgetHistoryAsync(fullKey, 0, spy);
        Exception? ex = await Record.ExceptionAsync(async () => Assert.Null(await waiter.WaitAsync(TimeSpan.FromSeconds(15))));
        _out.WriteLine($"{ex?.GetType().Name}: {ex?.Message}; {spy.Summary()}");
        Assert.Null(ex);
        await Eventually(async () => (await Client.GetRangeAsync(fullKey + "/#sem/")).Kvs.Count == 19, TimeSpan.FromSeconds(10), "only the fake tickets left");
        await Client.DeleteRangeAsync(fullKey + "/");
    }

    [Fact]
    public async Task Disposed_during_a_count_the_acquire_throws_ObjectDisposed()
    {
        (Instrument spy, EtcdLockProvider p, string key, string fullKey) = await WaiterAtCountAllAsync(20, 2);
        Task<EtcdLockHandle> waiter = p.AcquireSemaphoreAsync(key, 2, new EtcdLockOptions { TtlSeconds = 15, WaitTimeout = TimeSpan.FromMinutes(1) }).AsTask();
        await Task.Delay(1000);
        await ForgetHistoryAsync(fullKey, 0, spy);
        await spy.CountAllStarted!.Task.WaitAsync(TimeSpan.FromSeconds(10));
        var sw = Stopwatch.StartNew();
        Task dispose = p.DisposeAsync().AsTask();
        Exception? ex = await Record.ExceptionAsync(() => waiter.WaitAsync(TimeSpan.FromSeconds(15)));
        await dispose.WaitAsync(TimeSpan.FromSeconds(15));
        _out.WriteLine($"{sw.Elapsed}: {ex?.GetType().Name}: {ex?.Message}; {spy.Summary()}");
        Assert.IsType<ObjectDisposedException>(ex);
        await Eventually(async () => (await Client.GetRangeAsync(fullKey + "/#sem/")).Kvs.Count == 19, TimeSpan.FromSeconds(30), "only the fake tickets left");
        await Client.DeleteRangeAsync(fullKey + "/");
    }
}
