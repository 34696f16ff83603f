using System.Diagnostics;
using Medallion.Threading;

namespace AttributeLock.DistributedLock.Tests;

/// <summary>DistributedLock's lock contract: not reentrant, timeouts, cancellation, sync and async methods, mutual exclusion.</summary>
public sealed class LockContractTests : DistributedLockTestBase
{
    [Fact]
    public async Task Not_reentrant_in_the_same_async_flow()
    {
        EtcdDistributedLock @lock = NewProvider().CreateLock(UniqueName("reentrant"));
        await using EtcdDistributedLockHandle handle = await @lock.AcquireAsync(TimeSpan.FromSeconds(10));

        await using (EtcdDistributedLockHandle? nested = await @lock.TryAcquireAsync())
        {
            Assert.Null(nested);
        }

        await using (EtcdDistributedLockHandle? nested = await @lock.TryAcquireAsync(TimeSpan.FromMilliseconds(300)))
        {
            Assert.Null(nested);
        }

        Assert.False(handle.HandleLostToken.IsCancellationRequested);
    }

    [Fact]
    public void Not_reentrant_through_the_interfaces_nor_the_sync_methods()
    {
        IDistributedLockProvider provider = NewProvider();
        string name = UniqueName("reentrant-interfaces");
        IDistributedLock @lock = provider.CreateLock(name);
        using IDistributedSynchronizationHandle handle = @lock.Acquire(TimeSpan.FromSeconds(10));

        using (IDistributedSynchronizationHandle? nested = @lock.TryAcquire())
        {
            Assert.Null(nested);
        }

        // A second lock object of the same name is the same lock.
        using (IDistributedSynchronizationHandle? nested = provider.CreateLock(name).TryAcquire())
        {
            Assert.Null(nested);
        }

        Assert.Null(provider.TryAcquireLock(name));
    }

    [Fact]
    public async Task Acquire_of_a_lock_held_by_the_same_flow_waits_and_times_out()
    {
        EtcdDistributedLock @lock = NewProvider().CreateLock(UniqueName("reentrant-acquire"));
        await using EtcdDistributedLockHandle handle = await @lock.AcquireAsync();

        var sw = Stopwatch.StartNew();
        await Assert.ThrowsAnyAsync<TimeoutException>(async () => await @lock.AcquireAsync(TimeSpan.FromMilliseconds(500)));
        Assert.True(sw.Elapsed >= TimeSpan.FromMilliseconds(450), $"gave up after {sw.ElapsedMilliseconds} ms instead of waiting");
        Assert.Throws<EtcdLockTimeoutException>(() => @lock.Acquire(TimeSpan.FromMilliseconds(200)));
    }

    [Fact]
    public async Task Not_reentrant_from_child_tasks_threads_or_other_flows()
    {
        EtcdDistributedLock @lock = NewProvider().CreateLock(UniqueName("reentrant-flows"));
        await using EtcdDistributedLockHandle handle = await @lock.AcquireAsync();

        // A child task inherits the holder's execution context.
        EtcdDistributedLockHandle? fromChild = await Task.Run(async () => await @lock.TryAcquireAsync());
        Assert.Null(fromChild);

        // A thread without the holder's execution context.
        EtcdDistributedLockHandle? fromThread = null;
        Thread thread;
        using (ExecutionContext.SuppressFlow())
        {
            thread = new Thread(() => fromThread = @lock.TryAcquire(TimeSpan.FromMilliseconds(200)));
            thread.Start();
        }

        thread.Join();
        Assert.Null(fromThread);
    }

    [Fact]
    public async Task A_waiter_gets_the_lock_when_the_holder_releases_it()
    {
        string name = UniqueName("handoff");
        EtcdDistributedLock first = NewProvider().CreateLock(name);
        EtcdDistributedLock second = NewProvider().CreateLock(name);
        EtcdDistributedLockHandle held = await first.AcquireAsync();

        Task<EtcdDistributedLockHandle> waiting = second.AcquireAsync().AsTask();
        await Task.Delay(300);
        Assert.False(waiting.IsCompleted);

        long firstToken = held.FencingToken;
        await held.DisposeAsync();
        await using EtcdDistributedLockHandle next = await waiting.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.True(next.FencingToken > firstToken, "the fencing token grows with each holder");
    }

    [Fact]
    public async Task Sync_methods_acquire_release_wait_and_time_out()
    {
        string name = UniqueName("sync");
        EtcdDistributedLock holder = NewProvider().CreateLock(name);
        EtcdDistributedLock other = NewProvider().CreateLock(name);

        EtcdDistributedLockHandle handle = holder.Acquire();
        Assert.Null(other.TryAcquire());
        Assert.Null(other.TryAcquire(TimeSpan.FromMilliseconds(200)));
        var sw = Stopwatch.StartNew();
        TimeoutException timeout = Assert.ThrowsAny<TimeoutException>(() => other.Acquire(TimeSpan.FromMilliseconds(300)));
        Assert.True(sw.Elapsed >= TimeSpan.FromMilliseconds(250), $"Acquire gave up after {sw.ElapsedMilliseconds} ms");
        Assert.Contains(handle.Key, timeout.Message, StringComparison.Ordinal);

        // A blocked synchronous Acquire gets the lock once the holder releases it synchronously.
        Task<EtcdDistributedLockHandle> blocked = Task.Run(() => other.Acquire(TimeSpan.FromSeconds(20)));
        await Task.Delay(300);
        Assert.False(blocked.IsCompleted);
        handle.Dispose();
        EtcdDistributedLockHandle next = await blocked.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Null(holder.TryAcquire());
        next.Dispose();

        using EtcdDistributedLockHandle? again = holder.TryAcquire(TimeSpan.FromSeconds(10));
        Assert.NotNull(again);
    }

    [Fact]
    public async Task Sync_methods_do_not_deadlock_under_a_single_threaded_synchronization_context()
    {
        string name = UniqueName("sync-context");
        EtcdDistributedLock @lock = NewProvider().CreateLock(name);
        var done = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
        var thread = new Thread(() =>
        {
            SynchronizationContext.SetSynchronizationContext(new BlockingContext());
            try
            {
                using (EtcdDistributedLockHandle handle = @lock.Acquire(TimeSpan.FromSeconds(10)))
                {
                    Assert.Null(@lock.TryAcquire());
                }

                using EtcdDistributedLockHandle? again = @lock.TryAcquire(TimeSpan.FromSeconds(10));
                done.SetResult(again is not null);
            }
            catch (Exception ex)
            {
                done.SetException(ex);
            }
        });
        thread.Start();
        Assert.True(await done.Task.WaitAsync(TimeSpan.FromSeconds(30)));
    }

    [Fact]
    public async Task Short_timeouts_on_a_held_lock_give_null_or_TimeoutException_never_another_error()
    {
        // The timeout may fire at any step of the engine's wait (the watch being created, read, re-checked): whatever
        // step it interrupts, DistributedLock's contract is null for TryAcquire and TimeoutException for Acquire.
        string name = UniqueName("short-timeouts");
        await using EtcdDistributedLockHandle handle = await NewProvider().CreateLock(name).AcquireAsync();
        EtcdDistributedLock other = NewProvider().CreateLock(name);
        for (int i = 0; i < 40; i++)
        {
            TimeSpan timeout = TimeSpan.FromMilliseconds(1 + (i * 7 % 60));
            Assert.Null(await other.TryAcquireAsync(timeout));
            await Assert.ThrowsAnyAsync<TimeoutException>(async () => await other.AcquireAsync(timeout));
        }
    }

    [Fact]
    public async Task Cancellation_ends_a_wait_and_a_cancelled_token_throws_for_sync_and_cancels_the_task_for_async()
    {
        string name = UniqueName("cancel");
        EtcdDistributedLock holder = NewProvider().CreateLock(name);
        EtcdDistributedLock other = NewProvider().CreateLock(name);
        await using EtcdDistributedLockHandle handle = await holder.AcquireAsync();

        using var source = new CancellationTokenSource();
        Task<EtcdDistributedLockHandle> blocked = Task.Run(() => other.AcquireAsync(cancellationToken: source.Token).AsTask());
        await Task.Delay(300);
        Assert.False(blocked.IsCompleted);
        source.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => blocked.WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.True(blocked.IsCanceled, blocked.Status.ToString());

        using var cancelled = new CancellationTokenSource();
        cancelled.Cancel();
        EtcdDistributedLock free = NewProvider().CreateLock(UniqueName("cancel-free"));
        Assert.ThrowsAny<OperationCanceledException>(() => free.Acquire(cancellationToken: cancelled.Token));
        Assert.ThrowsAny<OperationCanceledException>(() => free.TryAcquire(cancellationToken: cancelled.Token));

        Task<EtcdDistributedLockHandle> acquire = free.AcquireAsync(cancellationToken: cancelled.Token).AsTask();
        await Task.WhenAny(acquire, Task.Delay(TimeSpan.FromSeconds(10)));
        Assert.True(acquire.IsCanceled, acquire.Status.ToString());
        Task<EtcdDistributedLockHandle?> tryAcquire = free.TryAcquireAsync(cancellationToken: cancelled.Token).AsTask();
        await Task.WhenAny(tryAcquire, Task.Delay(TimeSpan.FromSeconds(10)));
        Assert.True(tryAcquire.IsCanceled, tryAcquire.Status.ToString());

        // Cancelling after the acquire does not end the hold.
        using var later = new CancellationTokenSource();
        await using EtcdDistributedLockHandle held = await free.AcquireAsync(cancellationToken: later.Token);
        later.Cancel();
        Assert.False(held.HandleLostToken.IsCancellationRequested);
        Assert.Null(await NewProvider().CreateLock(free.Name).TryAcquireAsync());
    }

    [Fact]
    public async Task Mutual_exclusion_across_providers_and_tasks()
    {
        string name = UniqueName("parallel");
        var providers = new[] { NewProvider(), NewProvider() };
        int inside = 0;
        int most = 0;
        Task[] tasks = Enumerable.Range(0, 20).Select(i => Task.Run(async () =>
        {
            IDistributedLock @lock = providers[i % 2].CreateLock(name);
            await using (await @lock.AcquireAsync(TimeSpan.FromSeconds(60)))
            {
                int now = Interlocked.Increment(ref inside);
                InterlockedMax(ref most, now);
                await Task.Delay(10);
                Interlocked.Decrement(ref inside);
            }
        })).ToArray();
        await Task.WhenAll(tasks).WaitAsync(TimeSpan.FromSeconds(90));
        Assert.Equal(1, most);
    }

    [Fact]
    public async Task Composite_acquire_of_DistributedLock_Core_works_and_fails_as_a_whole()
    {
        IDistributedLockProvider provider = NewProvider();
        string[] names = [UniqueName("all-1"), UniqueName("all-2")];
        await using (IDistributedSynchronizationHandle? all = await provider.TryAcquireAllLocksAsync(names, TimeSpan.FromSeconds(10)))
        {
            Assert.NotNull(all);
            Assert.Null(await NewProvider().TryAcquireLockAsync(names[1]));
            Assert.Null(await NewProvider().TryAcquireAllLocksAsync(names));
        }

        using IDistributedSynchronizationHandle allSync = NewProvider().AcquireAllLocks(names, TimeSpan.FromSeconds(10));
        Assert.Null(NewProvider().TryAcquireLock(names[0]));
    }

    private static void InterlockedMax(ref int target, int value)
    {
        int current;
        while ((current = Volatile.Read(ref target)) < value && Interlocked.CompareExchange(ref target, value, current) != current)
        {
        }
    }

    /// <summary>
    /// A UI-like context whose thread never pumps (it is blocked in the sync call): whatever is posted to it never runs,
    /// so a continuation that needs it deadlocks the test (which then fails on its time limit).
    /// </summary>
    private sealed class BlockingContext : SynchronizationContext
    {
        public override void Post(SendOrPostCallback d, object? state)
        {
        }

        public override void Send(SendOrPostCallback d, object? state)
        {
        }
    }
}
