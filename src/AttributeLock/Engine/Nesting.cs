using System.Diagnostics;

namespace AttributeLock.Engine;

/// <summary>
/// Reentrancy of generated wrappers: a wrapper call on a key that an enclosing wrapper call of the same flow holds
/// (same provider, hold still live) shares that hold through a nested handle, one nested call at a time.
/// </summary>
/// <remarks>
/// Semantics, and why:
/// <list type="bullet">
/// <item>Only generated wrappers nest; <see cref="IEtcdLockProvider"/> itself is never reentrant (like
/// madelson/DistributedLock and Go's <c>concurrency.Mutex</c>): a second direct acquire waits like any other caller.</item>
/// <item>A nested handle is handed out only while the outer hold is live; it observes the outer hold's end (loss or
/// release, from any flow) through its <see cref="EtcdLockHandle.LostToken"/>.</item>
/// <item>Tasks started inside a locked call inherit its frame. Their nested calls take the hold's nesting stack in
/// turn (<see cref="HoldBase.TryNest"/>): a second one waits (within the call's wait timeout) or is skipped, as if
/// the lock were busy. It is never "inside" next to another nested call.</item>
/// <item>A call nested in a call whose hold was lost (not yet released) is busy at once: acquiring anew would wait for
/// the enclosing call, which waits for it.</item>
/// </list>
/// </remarks>
internal static class Nesting
{
    private static readonly TimeSpan s_maxTimer = TimeSpan.FromMilliseconds(uint.MaxValue - 2);

    /// <returns>The nested handle; or (null, false): not nested, acquire normally; or (null, true): busy (skip).</returns>
    public static async ValueTask<(EtcdLockHandle? Handle, bool Busy)> TryEnterNestedAsync(EtcdLockScope frame, TimeSpan wait, bool throwWhenBusy, CancellationToken cancellationToken)
    {
        long start = Stopwatch.GetTimestamp();
        CancellationTokenSource? timer = null;
        try
        {
            while (true)
            {
                EtcdLockScope? parent = frame.FindEnclosingForSameKey();
                if (parent?.Handle is not { } parentHandle)
                {
                    return (null, false);
                }

                HoldBase hold = parentHandle.Hold;
                switch (hold.TryNest(parent, frame, out Task changed))
                {
                    case NestOutcome.Nested:
                        return (new EtcdLockHandle(hold, isNested: true), false);
                    case NestOutcome.NotLive when hold.State == HoldState.Lost:
                        // The enclosing call still runs under its lost hold, which keeps the key's local queue until it
                        // ends: acquiring anew would wait for ourselves. Busy, at once, whatever the wait.
                        return Busy(parentHandle.Key, throwWhenBusy, start, "the enclosing call of this flow, whose hold was lost (it must end before the key can be taken again)");
                    case NestOutcome.NotLive:
                        return (null, false);
                }

                if (wait == TimeSpan.Zero)
                {
                    return Busy(parentHandle.Key, throwWhenBusy, start, "another nested call under the same hold (nested calls on one key run one at a time)");
                }

                bool timed = wait > TimeSpan.Zero && wait <= s_maxTimer;
                if (timer is null && (cancellationToken.CanBeCanceled || timed))
                {
                    timer = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                    if (timed)
                    {
                        timer.CancelAfter(wait);
                    }
                }

                try
                {
                    await changed.WaitAsync(timer?.Token ?? CancellationToken.None).ConfigureAwait(false);
                }
                catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
                {
                    return Busy(parentHandle.Key, throwWhenBusy, start, "another nested call under the same hold (nested calls on one key run one at a time)");
                }
            }
        }
        finally
        {
            timer?.Dispose();
        }
    }

    private static (EtcdLockHandle?, bool) Busy(string fullKey, bool throwWhenBusy, long start, string holder)
    {
        if (throwWhenBusy)
        {
            throw new EtcdLockTimeoutException(fullKey, holder, Stopwatch.GetElapsedTime(start));
        }

        return (null, true);
    }
}
