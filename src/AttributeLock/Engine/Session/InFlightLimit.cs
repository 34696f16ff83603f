using System.Collections.Concurrent;

namespace AttributeLock.Engine.Session;

/// <summary>
/// At most a fixed number of requests of one kind in flight; the others wait their turn, first come first served.
/// Entering while there is room costs one interlocked increment and allocates nothing.
/// </summary>
/// <remarks>
/// Invariant: <c>_count</c> is the number of requests in flight plus those waiting (or about to wait). It is above the
/// limit exactly when someone waits, so an <see cref="Exit"/> that leaves it at or above the limit hands its slot to the
/// next waiter instead of freeing it. A waiter counts itself before it queues itself, so that exit may find the queue
/// empty for an instant and spins until the waiter is there.
/// </remarks>
internal sealed class InFlightLimit
{
    private readonly int _limit;
    private readonly ConcurrentQueue<TaskCompletionSource> _waiters = new();
    private int _count;

    public InFlightLimit(int limit)
    {
        Invariant.Require(limit > 0, "an in-flight limit lets at least one request through");
        _limit = limit;
    }

    /// <summary>Requests in flight plus those waiting for a slot.</summary>
    public int Count => Volatile.Read(ref _count);

    /// <summary>Takes a slot when one is free; otherwise <paramref name="turn"/> completes when one is handed over.</summary>
    /// <returns><c>true</c>: the slot is taken; <c>false</c>: wait for <paramref name="turn"/>, which then holds it.</returns>
    public bool TryEnter(out Task turn)
    {
        if (Interlocked.Increment(ref _count) <= _limit)
        {
            turn = Task.CompletedTask;
            return true;
        }

        // Continuations run off the thread of the exit that hands the slot over (a revoke's completion).
        var waiter = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _waiters.Enqueue(waiter);
        turn = waiter.Task;
        return false;
    }

    /// <summary>Waits for a slot.</summary>
    public Task EnterAsync() => TryEnter(out Task turn) ? Task.CompletedTask : turn;

    /// <summary>Frees the caller's slot, or hands it to the next waiter. Called exactly once per slot taken.</summary>
    public void Exit()
    {
        int left = Interlocked.Decrement(ref _count);
        Invariant.Require(left >= 0, "an in-flight slot was freed twice");
        if (left < _limit)
        {
            return;
        }

        // Someone counted itself past the limit: it waits, or is about to queue itself.
        TaskCompletionSource? next;
        var spin = default(SpinWait);
        while (!_waiters.TryDequeue(out next))
        {
            spin.SpinOnce();
        }

        next.SetResult();
    }
}
