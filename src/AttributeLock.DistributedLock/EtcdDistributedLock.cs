using Medallion.Threading;

namespace AttributeLock.DistributedLock;

/// <summary>
/// A distributed lock on etcd with DistributedLock's <see cref="IDistributedLock"/> contract. Create it with
/// <see cref="EtcdDistributedSynchronizationProvider.CreateLock"/>.
/// </summary>
/// <remarks>
/// <list type="bullet">
/// <item>Not reentrant: while a handle is held, every other acquire of the same name waits (and times out) or, for
/// <c>TryAcquire</c>, returns <c>null</c>, whatever process, thread or async flow asks, this one's included.</item>
/// <item>Timeouts follow DistributedLock: <c>TryAcquire</c> defaults to <see cref="TimeSpan.Zero"/> (one attempt),
/// <c>Acquire</c> to <see cref="Timeout.InfiniteTimeSpan"/>; a timeout that is negative (other than -1 ms) or longer than
/// <see cref="int.MaxValue"/> milliseconds throws <see cref="ArgumentOutOfRangeException"/> at once, before anything is
/// sent. <c>Acquire</c> throws a <see cref="TimeoutException"/> (an <see cref="EtcdLockTimeoutException"/>) when the
/// timeout passes.</item>
/// <item>Cancellation ends a wait; it never ends a hold that was acquired. A token already cancelled makes the
/// synchronous methods throw <see cref="OperationCanceledException"/> and the asynchronous ones return a cancelled task.</item>
/// <item>The synchronous methods block on the engine's asynchronous calls; prefer the asynchronous ones in async code.</item>
/// </list>
/// </remarks>
public sealed class EtcdDistributedLock : IDistributedLock
{
    private readonly IEtcdLockProvider _locks;
    private readonly int? _ttlSeconds;

    internal EtcdDistributedLock(IEtcdLockProvider locks, string name, string key, int? ttlSeconds)
    {
        _locks = locks;
        Name = name;
        Key = key;
        _ttlSeconds = ttlSeconds;
    }

    /// <summary>The name the lock was created with, as given (any string, the empty one included).</summary>
    public string Name { get; }

    /// <summary>
    /// The key this lock takes through <see cref="IEtcdLockProvider"/> (the engine puts its own key prefix before it):
    /// see <see cref="EtcdDistributedSynchronizationProvider.GetKey"/>.
    /// </summary>
    public string Key { get; }

    /// <summary>Tries to acquire the lock, waiting at most <paramref name="timeout"/>; blocks the calling thread.</summary>
    /// <param name="timeout">How long to wait; <see cref="TimeSpan.Zero"/> (the default) is one attempt.</param>
    /// <param name="cancellationToken">Ends the wait.</param>
    /// <returns>The handle, or <c>null</c> when the lock was still held by someone else when the timeout passed.</returns>
    /// <exception cref="ArgumentOutOfRangeException">The timeout is invalid.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    /// <exception cref="EtcdLockUnavailableException">etcd could not be reached.</exception>
    public EtcdDistributedLockHandle? TryAcquire(TimeSpan timeout = default, CancellationToken cancellationToken = default)
    {
        TimeSpan wait = ToWait(timeout);
        return SyncOverAsync.Run(static s => s.@this.TryAcquireCoreAsync(s.wait, s.cancellationToken), (@this: this, wait, cancellationToken));
    }

    /// <summary>Acquires the lock, waiting at most <paramref name="timeout"/>; blocks the calling thread.</summary>
    /// <param name="timeout">How long to wait; <c>null</c> (the default) waits without limit.</param>
    /// <param name="cancellationToken">Ends the wait.</param>
    /// <returns>The handle.</returns>
    /// <exception cref="ArgumentOutOfRangeException">The timeout is invalid.</exception>
    /// <exception cref="TimeoutException">The timeout passed while someone else held the lock (an <see cref="EtcdLockTimeoutException"/>).</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    /// <exception cref="EtcdLockUnavailableException">etcd could not be reached.</exception>
    public EtcdDistributedLockHandle Acquire(TimeSpan? timeout = null, CancellationToken cancellationToken = default)
    {
        TimeSpan wait = ToWait(timeout);
        return SyncOverAsync.Run(static s => s.@this.AcquireCoreAsync(s.wait, s.cancellationToken), (@this: this, wait, cancellationToken));
    }

    /// <summary>Tries to acquire the lock, waiting at most <paramref name="timeout"/>.</summary>
    /// <param name="timeout">How long to wait; <see cref="TimeSpan.Zero"/> (the default) is one attempt.</param>
    /// <param name="cancellationToken">Ends the wait.</param>
    /// <returns>The handle, or <c>null</c> when the lock was still held by someone else when the timeout passed.</returns>
    /// <exception cref="ArgumentOutOfRangeException">The timeout is invalid (thrown by the call itself, not by the task).</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    /// <exception cref="EtcdLockUnavailableException">etcd could not be reached.</exception>
    public ValueTask<EtcdDistributedLockHandle?> TryAcquireAsync(TimeSpan timeout = default, CancellationToken cancellationToken = default) =>
        TryAcquireCoreAsync(ToWait(timeout), cancellationToken);

    /// <summary>Acquires the lock, waiting at most <paramref name="timeout"/>.</summary>
    /// <param name="timeout">How long to wait; <c>null</c> (the default) waits without limit.</param>
    /// <param name="cancellationToken">Ends the wait.</param>
    /// <returns>The handle.</returns>
    /// <exception cref="ArgumentOutOfRangeException">The timeout is invalid (thrown by the call itself, not by the task).</exception>
    /// <exception cref="TimeoutException">The timeout passed while someone else held the lock (an <see cref="EtcdLockTimeoutException"/>).</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    /// <exception cref="EtcdLockUnavailableException">etcd could not be reached.</exception>
    public ValueTask<EtcdDistributedLockHandle> AcquireAsync(TimeSpan? timeout = null, CancellationToken cancellationToken = default) =>
        AcquireCoreAsync(ToWait(timeout), cancellationToken);

    IDistributedSynchronizationHandle? IDistributedLock.TryAcquire(TimeSpan timeout, CancellationToken cancellationToken) =>
        TryAcquire(timeout, cancellationToken);

    IDistributedSynchronizationHandle IDistributedLock.Acquire(TimeSpan? timeout, CancellationToken cancellationToken) =>
        Acquire(timeout, cancellationToken);

    ValueTask<IDistributedSynchronizationHandle?> IDistributedLock.TryAcquireAsync(TimeSpan timeout, CancellationToken cancellationToken) =>
        Upcast(TryAcquireAsync(timeout, cancellationToken));

    ValueTask<IDistributedSynchronizationHandle> IDistributedLock.AcquireAsync(TimeSpan? timeout, CancellationToken cancellationToken) =>
        Upcast(AcquireAsync(timeout, cancellationToken)!)!;

    /// <inheritdoc />
    public override string ToString() => $"EtcdDistributedLock(Name={Name}, Key={Key})";

    /// <summary>
    /// DistributedLock's timeout rule (that of <see cref="Task.Wait(TimeSpan)"/>): whole milliseconds from -1 (no limit)
    /// to <see cref="int.MaxValue"/>.
    /// </summary>
    internal static TimeSpan ToWait(TimeSpan? timeout, string paramName = "timeout")
    {
        if (timeout is not { } value)
        {
            return Timeout.InfiniteTimeSpan;
        }

        long milliseconds = (long)value.TotalMilliseconds;
        if (milliseconds < -1 || milliseconds > int.MaxValue)
        {
            throw new ArgumentOutOfRangeException(paramName, value,
                $"Must be Timeout.InfiniteTimeSpan ({Timeout.InfiniteTimeSpan}) or a non-negative value <= {TimeSpan.FromMilliseconds(int.MaxValue)}.");
        }

        return milliseconds == -1 ? Timeout.InfiniteTimeSpan : TimeSpan.FromMilliseconds(milliseconds);
    }

    // The engine is called from inside these async methods on purpose: whatever flow-local state an acquire records
    // (an engine may track the holds of the calling async flow) is undone when they return, so it never makes a later
    // acquire of the caller's flow, or of tasks it starts, reentrant. DistributedLock's locks are not reentrant.
    private async ValueTask<EtcdDistributedLockHandle?> TryAcquireCoreAsync(TimeSpan wait, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        EtcdLockHandle? hold = await _locks.TryAcquireAsync(Key, Options(wait), cancellationToken).ConfigureAwait(false);
        return hold is null ? null : new EtcdDistributedLockHandle(hold);
    }

    private async ValueTask<EtcdDistributedLockHandle> AcquireCoreAsync(TimeSpan wait, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        EtcdLockHandle hold = await _locks.AcquireAsync(Key, Options(wait), cancellationToken).ConfigureAwait(false);
        return new EtcdDistributedLockHandle(hold);
    }

    private EtcdLockOptions Options(TimeSpan wait) => new() { TtlSeconds = _ttlSeconds, WaitTimeout = wait };

    // The argument is evaluated by the caller, so invalid arguments still throw synchronously.
    private static ValueTask<IDistributedSynchronizationHandle?> Upcast(ValueTask<EtcdDistributedLockHandle?> task) =>
        task.IsCompletedSuccessfully ? new(task.Result) : UpcastAsync(task);

    private static async ValueTask<IDistributedSynchronizationHandle?> UpcastAsync(ValueTask<EtcdDistributedLockHandle?> task) =>
        await task.ConfigureAwait(false);
}
