using Medallion.Threading;

namespace AttributeLock.DistributedLock;

/// <summary>
/// A distributed semaphore on etcd with DistributedLock's <see cref="IDistributedSemaphore"/> contract: at most
/// <see cref="MaxCount"/> holders at once, across processes. Create it with
/// <see cref="EtcdDistributedSynchronizationProvider.CreateSemaphore"/>.
/// </summary>
/// <remarks>
/// <list type="bullet">
/// <item>Each holder or waiter is a ticket key under <see cref="Key"/> (<c>/#sem/</c> and its lease id), and places go
/// first come, first served across processes, by the moment each ticket was put
/// (<see cref="IEtcdLockProvider.AcquireSemaphoreAsync"/>).</item>
/// <item>Every process must create the semaphore of one name with the same <see cref="MaxCount"/>: an acquire that finds
/// a ticket taken with another value throws <see cref="InvalidOperationException"/> naming both, rather than let the
/// larger value win.</item>
/// <item>Not reentrant: each acquire takes a place of its own, whoever asks (this process, thread or async flow
/// included).</item>
/// <item>Timeouts follow DistributedLock: <c>TryAcquire</c> defaults to <see cref="TimeSpan.Zero"/> (one attempt),
/// <c>Acquire</c> to <see cref="Timeout.InfiniteTimeSpan"/>; a timeout that is negative (other than -1 ms) or longer than
/// <see cref="int.MaxValue"/> milliseconds throws <see cref="ArgumentOutOfRangeException"/> at once. <c>Acquire</c>
/// throws a <see cref="TimeoutException"/> (an <see cref="EtcdLockTimeoutException"/>) when the timeout passes; the
/// waiter's ticket is removed, as it is when the wait is cancelled.</item>
/// <item>The synchronous methods block on the engine's asynchronous calls; prefer the asynchronous ones in async code.</item>
/// </list>
/// </remarks>
public sealed class EtcdDistributedSemaphore : IDistributedSemaphore
{
    private readonly IEtcdLockProvider _locks;
    private readonly int? _ttlSeconds;

    internal EtcdDistributedSemaphore(IEtcdLockProvider locks, string name, string key, int maxCount, int? ttlSeconds)
    {
        _locks = locks;
        Name = name;
        Key = key;
        MaxCount = maxCount;
        _ttlSeconds = ttlSeconds;
    }

    /// <summary>The name the semaphore was created with, as given (any string, the empty one included).</summary>
    public string Name { get; }

    /// <summary>
    /// The key under which this semaphore's tickets are put through <see cref="IEtcdLockProvider"/> (the engine puts its
    /// own key prefix before it): see <see cref="EtcdDistributedSynchronizationProvider.GetKey"/>.
    /// </summary>
    public string Key { get; }

    /// <summary>How many holders at most; at least 1.</summary>
    public int MaxCount { get; }

    /// <summary>Tries to take a place, waiting at most <paramref name="timeout"/>; blocks the calling thread.</summary>
    /// <param name="timeout">How long to wait; <see cref="TimeSpan.Zero"/> (the default) is one attempt.</param>
    /// <param name="cancellationToken">Ends the wait.</param>
    /// <returns>The handle, or <c>null</c> when every place was still taken when the timeout passed.</returns>
    /// <exception cref="ArgumentOutOfRangeException">The timeout is invalid.</exception>
    /// <exception cref="InvalidOperationException">A holder of the semaphore created it with another <see cref="MaxCount"/>.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    /// <exception cref="EtcdLockUnavailableException">etcd could not be reached.</exception>
    public EtcdDistributedSemaphoreHandle? TryAcquire(TimeSpan timeout = default, CancellationToken cancellationToken = default)
    {
        TimeSpan wait = EtcdDistributedLock.ToWait(timeout);
        return SyncOverAsync.Run(static s => s.@this.TryAcquireCoreAsync(s.wait, s.cancellationToken), (@this: this, wait, cancellationToken));
    }

    /// <summary>Takes a place, waiting at most <paramref name="timeout"/>; blocks the calling thread.</summary>
    /// <param name="timeout">How long to wait; <c>null</c> (the default) waits without limit.</param>
    /// <param name="cancellationToken">Ends the wait.</param>
    /// <returns>The handle.</returns>
    /// <exception cref="ArgumentOutOfRangeException">The timeout is invalid.</exception>
    /// <exception cref="TimeoutException">The timeout passed while every place was taken (an <see cref="EtcdLockTimeoutException"/>).</exception>
    /// <exception cref="InvalidOperationException">A holder of the semaphore created it with another <see cref="MaxCount"/>.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    /// <exception cref="EtcdLockUnavailableException">etcd could not be reached.</exception>
    public EtcdDistributedSemaphoreHandle Acquire(TimeSpan? timeout = null, CancellationToken cancellationToken = default)
    {
        TimeSpan wait = EtcdDistributedLock.ToWait(timeout);
        return SyncOverAsync.Run(static s => s.@this.AcquireCoreAsync(s.wait, s.cancellationToken), (@this: this, wait, cancellationToken));
    }

    /// <summary>Tries to take a place, waiting at most <paramref name="timeout"/>.</summary>
    /// <param name="timeout">How long to wait; <see cref="TimeSpan.Zero"/> (the default) is one attempt.</param>
    /// <param name="cancellationToken">Ends the wait.</param>
    /// <returns>The handle, or <c>null</c> when every place was still taken when the timeout passed.</returns>
    /// <exception cref="ArgumentOutOfRangeException">The timeout is invalid (thrown by the call itself, not by the task).</exception>
    /// <exception cref="InvalidOperationException">A holder of the semaphore created it with another <see cref="MaxCount"/>.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    /// <exception cref="EtcdLockUnavailableException">etcd could not be reached.</exception>
    public ValueTask<EtcdDistributedSemaphoreHandle?> TryAcquireAsync(TimeSpan timeout = default, CancellationToken cancellationToken = default) =>
        TryAcquireCoreAsync(EtcdDistributedLock.ToWait(timeout), cancellationToken);

    /// <summary>Takes a place, waiting at most <paramref name="timeout"/>.</summary>
    /// <param name="timeout">How long to wait; <c>null</c> (the default) waits without limit.</param>
    /// <param name="cancellationToken">Ends the wait.</param>
    /// <returns>The handle.</returns>
    /// <exception cref="ArgumentOutOfRangeException">The timeout is invalid (thrown by the call itself, not by the task).</exception>
    /// <exception cref="TimeoutException">The timeout passed while every place was taken (an <see cref="EtcdLockTimeoutException"/>).</exception>
    /// <exception cref="InvalidOperationException">A holder of the semaphore created it with another <see cref="MaxCount"/>.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    /// <exception cref="EtcdLockUnavailableException">etcd could not be reached.</exception>
    public ValueTask<EtcdDistributedSemaphoreHandle> AcquireAsync(TimeSpan? timeout = null, CancellationToken cancellationToken = default) =>
        AcquireCoreAsync(EtcdDistributedLock.ToWait(timeout), cancellationToken);

    IDistributedSynchronizationHandle? IDistributedSemaphore.TryAcquire(TimeSpan timeout, CancellationToken cancellationToken) =>
        TryAcquire(timeout, cancellationToken);

    IDistributedSynchronizationHandle IDistributedSemaphore.Acquire(TimeSpan? timeout, CancellationToken cancellationToken) =>
        Acquire(timeout, cancellationToken);

    ValueTask<IDistributedSynchronizationHandle?> IDistributedSemaphore.TryAcquireAsync(TimeSpan timeout, CancellationToken cancellationToken) =>
        HandleTasks.Upcast(TryAcquireAsync(timeout, cancellationToken));

    ValueTask<IDistributedSynchronizationHandle> IDistributedSemaphore.AcquireAsync(TimeSpan? timeout, CancellationToken cancellationToken) =>
        HandleTasks.UpcastHeld(AcquireAsync(timeout, cancellationToken));

    /// <inheritdoc />
    public override string ToString() => $"EtcdDistributedSemaphore(Name={Name}, Key={Key}, MaxCount={MaxCount})";

    // Called from inside these async methods on purpose, as EtcdDistributedLock does: flow-local state an acquire records
    // is undone when they return.
    private async ValueTask<EtcdDistributedSemaphoreHandle?> TryAcquireCoreAsync(TimeSpan wait, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        EtcdLockHandle? hold = await _locks.TryAcquireSemaphoreAsync(Key, MaxCount, Options(wait), cancellationToken).ConfigureAwait(false);
        return hold is null ? null : new EtcdDistributedSemaphoreHandle(hold);
    }

    private async ValueTask<EtcdDistributedSemaphoreHandle> AcquireCoreAsync(TimeSpan wait, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        EtcdLockHandle hold = await _locks.AcquireSemaphoreAsync(Key, MaxCount, Options(wait), cancellationToken).ConfigureAwait(false);
        return new EtcdDistributedSemaphoreHandle(hold);
    }

    private EtcdLockOptions Options(TimeSpan wait) => new() { TtlSeconds = _ttlSeconds, WaitTimeout = wait };
}
