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
/// turn (<see cref="LockHold.TryNest"/>): a second one waits (within the call's wait timeout) or is skipped, as if
/// the lock were busy. It is never "inside" next to another nested call.</item>
/// </list>
/// </remarks>
internal static class Nesting
{
    private static readonly TimeSpan s_maxTimer = TimeSpan.FromMilliseconds(uint.MaxValue - 2);

    /// <returns>The nested handle; or (null, false): not nested, acquire normally; or (null, true): busy (skip).</returns>
    public static async ValueTask<(EtcdLockHandle? Handle, bool Busy)> TryEnterNestedAsync(WrapperFrame frame, AcquireRequest request, CancellationToken cancellationToken)
    {
        long start = Stopwatch.GetTimestamp();
        CancellationTokenSource? timer = null;
        try
        {
            while (true)
            {
                WrapperFrame? parent = frame.FindEnclosingForSameKey();
                if (parent?.Handle is not { } parentHandle)
                {
                    return (null, false);
                }

                LockHold hold = parentHandle.Hold;
                switch (hold.TryNest(parent, frame, out Task changed))
                {
                    case NestOutcome.Nested:
                        return (new EtcdLockHandle(hold, isNested: true), false);
                    case NestOutcome.NotLive:
                        return (null, false);
                }

                if (request.SingleAttempt)
                {
                    return Busy(request, start);
                }

                if (timer is null && (cancellationToken.CanBeCanceled || (request.Wait > TimeSpan.Zero && request.Wait <= s_maxTimer)))
                {
                    timer = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                    if (request.Wait > TimeSpan.Zero && request.Wait <= s_maxTimer)
                    {
                        timer.CancelAfter(request.Wait);
                    }
                }

                try
                {
                    await changed.WaitAsync(timer?.Token ?? CancellationToken.None).ConfigureAwait(false);
                }
                catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
                {
                    return Busy(request, start);
                }
            }
        }
        finally
        {
            timer?.Dispose();
        }
    }

    private static (EtcdLockHandle?, bool) Busy(AcquireRequest request, long start)
    {
        if (request.ThrowWhenBusy)
        {
            throw new EtcdLockTimeoutException(
                request.FullKey,
                "another nested call under the same hold (nested calls on one key run one at a time)",
                Stopwatch.GetElapsedTime(start));
        }

        return (null, true);
    }
}
