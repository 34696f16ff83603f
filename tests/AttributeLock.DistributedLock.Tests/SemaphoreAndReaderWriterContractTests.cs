using Medallion.Threading;

namespace AttributeLock.DistributedLock.Tests;

/// <summary>
/// DistributedLock's semaphore and reader-writer lock contracts, run over the engine on a real etcd and over the
/// in-memory double: each provider stands for another process.
/// </summary>
public abstract class SemaphoreAndReaderWriterContractTests : IAsyncLifetime
{
    private static readonly TimeSpan s_long = TimeSpan.FromSeconds(15);

    /// <summary>A provider as another process would have one.</summary>
    protected abstract EtcdDistributedSynchronizationProvider NewProvider();

    /// <summary>Disposes the engine <paramref name="provider"/> takes its holds through.</summary>
    protected abstract Task DisposeEngineAsync(EtcdDistributedSynchronizationProvider provider);

    public virtual Task InitializeAsync() => Task.CompletedTask;

    public abstract Task DisposeAsync();

    private static string UniqueName(string name) => $"{name}-{Guid.NewGuid():N}";

    /// <summary>Gives a waiter started just before time to put its key (a round trip to etcd).</summary>
    private static Task LetKeysLandAsync() => Task.Delay(400);

    [Fact]
    public async Task A_semaphore_admits_MaxCount_holders_across_processes_and_no_more()
    {
        string name = UniqueName("sem");
        EtcdDistributedSemaphore first = NewProvider().CreateSemaphore(name, 2);
        IDistributedSemaphore second = NewProvider().CreateSemaphore(name, 2);
        Assert.Equal(2, first.MaxCount);
        Assert.Equal(name, second.Name);

        await using EtcdDistributedSemaphoreHandle a = await first.AcquireAsync(s_long);
        using IDistributedSynchronizationHandle b = second.Acquire(s_long);
        Assert.StartsWith(DistributedLockTestBase.EnginePrefix + first.Key + "/#sem/", a.Key);
        Assert.Null(await first.TryAcquireAsync());
        Assert.Null(second.TryAcquire(TimeSpan.FromMilliseconds(200)));
        await Assert.ThrowsAnyAsync<TimeoutException>(async () => await second.AcquireAsync(TimeSpan.FromMilliseconds(300)));

        b.Dispose();
        await using EtcdDistributedSemaphoreHandle? c = await first.TryAcquireAsync(s_long);
        Assert.NotNull(c);
        Assert.True(c.FencingToken > a.FencingToken);
    }

    [Fact]
    public async Task A_semaphore_serves_waiters_in_arrival_order()
    {
        string name = UniqueName("sem-fifo");
        EtcdDistributedSemaphore semaphore = NewProvider().CreateSemaphore(name, 1);
        EtcdDistributedSemaphoreHandle held = await semaphore.AcquireAsync();
        Task<EtcdDistributedSemaphoreHandle> early = NewProvider().CreateSemaphore(name, 1).AcquireAsync(s_long).AsTask();
        await LetKeysLandAsync();
        Task<EtcdDistributedSemaphoreHandle> late = NewProvider().CreateSemaphore(name, 1).AcquireAsync(s_long).AsTask();
        await LetKeysLandAsync();

        await held.DisposeAsync();
        await using EtcdDistributedSemaphoreHandle earlyHeld = await early.WaitAsync(s_long);
        await Task.Delay(300);
        Assert.False(late.IsCompleted, "a later waiter overtook an earlier one");
        await earlyHeld.DisposeAsync();
        await using EtcdDistributedSemaphoreHandle lateHeld = await late.WaitAsync(s_long);
    }

    [Fact]
    public async Task A_semaphore_of_another_MaxCount_fails_and_a_MaxCount_below_one_is_refused()
    {
        string name = UniqueName("sem-count");
        IDistributedSemaphoreProvider provider = NewProvider();
        await using IDistributedSynchronizationHandle held = await provider.AcquireSemaphoreAsync(name, 7, s_long);
        var ex = await Assert.ThrowsAsync<InvalidOperationException>(async () => await NewProvider().CreateSemaphore(name, 11).TryAcquireAsync());
        Assert.Matches(@"\b7\b", ex.Message); // both values, not digits of the key
        Assert.Matches(@"\b11\b", ex.Message);

        Assert.Throws<ArgumentOutOfRangeException>(() => provider.CreateSemaphore(name, 0));
        Assert.Throws<ArgumentNullException>(() => provider.CreateSemaphore(null!, 1));
    }

    [Fact]
    public async Task A_cancelled_semaphore_waiter_leaves_no_ticket()
    {
        string name = UniqueName("sem-cancel");
        EtcdDistributedSemaphore semaphore = NewProvider().CreateSemaphore(name, 1);
        EtcdDistributedSemaphoreHandle held = await semaphore.AcquireAsync();
        using (var cts = new CancellationTokenSource(300))
        {
            await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => await NewProvider().CreateSemaphore(name, 1).AcquireAsync(cancellationToken: cts.Token));
        }

        using var cancelled = new CancellationTokenSource();
        cancelled.Cancel();
        Assert.Throws<OperationCanceledException>(() => semaphore.Acquire(cancellationToken: cancelled.Token));
        Assert.True(semaphore.AcquireAsync(cancellationToken: cancelled.Token).AsTask().IsCanceled);

        await held.DisposeAsync();
        await using EtcdDistributedSemaphoreHandle? next = await semaphore.TryAcquireAsync();
        Assert.NotNull(next); // a ticket left by the cancelled waiter would have the place now
    }

    [Fact]
    public async Task Readers_share_across_processes_and_a_writer_holds_alone()
    {
        string name = UniqueName("rw");
        EtcdDistributedReaderWriterLock one = NewProvider().CreateReaderWriterLock(name);
        IDistributedReaderWriterLock other = NewProvider().CreateReaderWriterLock(name);

        await using (EtcdDistributedReaderWriterLockHandle r1 = await one.AcquireReadLockAsync(s_long))
        using (IDistributedSynchronizationHandle r2 = other.AcquireReadLock(s_long))
        {
            Assert.False(r1.IsWrite);
            Assert.Null(await one.TryAcquireWriteLockAsync());
            Assert.Null(other.TryAcquireWriteLock(TimeSpan.FromMilliseconds(200)));
        }

        await using EtcdDistributedReaderWriterLockHandle? w = await one.TryAcquireWriteLockAsync(s_long);
        Assert.NotNull(w);
        Assert.True(w.IsWrite);
        Assert.Null(other.TryAcquireReadLock());
        Assert.Null(await other.TryAcquireWriteLockAsync());
        await Assert.ThrowsAnyAsync<TimeoutException>(async () => await other.AcquireReadLockAsync(TimeSpan.FromMilliseconds(300)));
        Assert.Throws<EtcdLockTimeoutException>(() => one.AcquireWriteLock(TimeSpan.FromMilliseconds(200))); // not reentrant
    }

    [Fact]
    public async Task A_reader_that_comes_after_a_waiting_writer_waits_for_it()
    {
        string name = UniqueName("rw-fair");
        EtcdDistributedReaderWriterLock rw = NewProvider().CreateReaderWriterLock(name);
        EtcdDistributedReaderWriterLockHandle reader = await rw.AcquireReadLockAsync();
        Task<EtcdDistributedReaderWriterLockHandle> writer = NewProvider().CreateReaderWriterLock(name).AcquireWriteLockAsync(s_long).AsTask();
        await LetKeysLandAsync();

        Assert.Null(await NewProvider().CreateReaderWriterLock(name).TryAcquireReadLockAsync(TimeSpan.FromMilliseconds(300)));
        Assert.False(writer.IsCompleted);
        await reader.DisposeAsync();
        await using EtcdDistributedReaderWriterLockHandle written = await writer.WaitAsync(s_long);
        Assert.True(written.FencingToken > 0);
    }

    [Fact]
    public async Task Handles_report_a_lost_engine_not_a_release_and_throw_once_disposed()
    {
        EtcdDistributedSynchronizationProvider provider = NewProvider();
        EtcdDistributedSemaphoreHandle place = await provider.CreateSemaphore(UniqueName("lost-sem"), 2).AcquireAsync();
        EtcdDistributedReaderWriterLockHandle read = await provider.CreateReaderWriterLock(UniqueName("lost-rw")).AcquireReadLockAsync();
        EtcdDistributedReaderWriterLockHandle released = await provider.CreateReaderWriterLock(UniqueName("released-rw")).AcquireWriteLockAsync();
        CancellationToken releasedToken = released.HandleLostToken;
        await released.DisposeAsync();
        Assert.False(releasedToken.IsCancellationRequested, "a normal release is not a lost hold");
        Assert.Throws<ObjectDisposedException>(() => released.HandleLostToken);
        Assert.Throws<ObjectDisposedException>(() => ((IDistributedSynchronizationHandle)released).HandleLostToken);
        Assert.Throws<ObjectDisposedException>(() => released.Key);

        await DisposeEngineAsync(provider);
        await WaitCancelledAsync(place.HandleLostToken);
        await WaitCancelledAsync(read.HandleLostToken);
        place.Dispose(); // never throws
        await read.DisposeAsync();
        await read.DisposeAsync();
    }

    [Fact]
    public async Task Invalid_timeouts_throw_synchronously()
    {
        EtcdDistributedSynchronizationProvider provider = NewProvider();
        IDistributedSemaphore semaphore = provider.CreateSemaphore("timeouts", 1);
        IDistributedReaderWriterLock rw = provider.CreateReaderWriterLock("timeouts");
        TimeSpan bad = TimeSpan.FromMilliseconds(-2);
        Assert.Throws<ArgumentOutOfRangeException>("timeout", () => semaphore.Acquire(bad));
        Assert.Throws<ArgumentOutOfRangeException>("timeout", () => { _ = semaphore.TryAcquireAsync(bad); });
        Assert.Throws<ArgumentOutOfRangeException>("timeout", () => { _ = rw.AcquireReadLockAsync(bad); });
        Assert.Throws<ArgumentOutOfRangeException>("timeout", () => rw.TryAcquireWriteLock(TimeSpan.FromMilliseconds((long)int.MaxValue + 1)));
        await Task.CompletedTask;
    }

    private static async Task WaitCancelledAsync(CancellationToken token)
    {
        var fired = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using (token.Register(() => fired.TrySetResult()))
        {
            await fired.Task.WaitAsync(s_long);
        }
    }
}
