using Medallion.Threading;

namespace AttributeLock.DistributedLock;

/// <summary>
/// A distributed reader-writer lock on etcd with DistributedLock's <see cref="IDistributedReaderWriterLock"/> contract:
/// readers hold side by side, a writer holds alone. Create it with
/// <see cref="EtcdDistributedSynchronizationProvider.CreateReaderWriterLock"/>.
/// </summary>
/// <remarks>
/// <list type="bullet">
/// <item>Each reader and writer is a key under <see cref="Key"/> (<c>/#rw/r/</c> or <c>/#rw/w/</c> and its lease id),
/// served first come, first served across processes: a reader waits for every older writer, held or waiting, so a steady
/// stream of readers cannot starve a writer; a writer waits for every older reader and writer.</item>
/// <item>Not reentrant: a read acquire beside a read hold of the same flow is one more reader (and waits behind a writer
/// that came between), a write acquire while the same flow holds the lock waits for that hold and times out.</item>
/// <item>No upgradeable variant (<see cref="IDistributedUpgradeableReaderWriterLock"/>): on this layout an upgrade puts a
/// writer key, younger than the keys of the other readers, and waits for them to leave; two readers that both upgrade
/// each wait for the other, forever. Making an upgrade sound would need one upgradeable reader at a time that is served
/// ahead of writers who came before its upgrade, which ordering every key by its create revision cannot express. Take
/// the write lock from the start instead, or release the read lock, take the write lock and check again.</item>
/// <item>Timeouts follow DistributedLock: <c>TryAcquire…</c> defaults to <see cref="TimeSpan.Zero"/> (one attempt),
/// <c>Acquire…</c> to <see cref="Timeout.InfiniteTimeSpan"/>; a timeout that is negative (other than -1 ms) or longer
/// than <see cref="int.MaxValue"/> milliseconds throws <see cref="ArgumentOutOfRangeException"/> at once.
/// <c>Acquire…</c> throws a <see cref="TimeoutException"/> (an <see cref="EtcdLockTimeoutException"/>) when the timeout
/// passes; the waiter's key is removed, as it is when the wait is cancelled.</item>
/// <item>The synchronous methods block on the engine's asynchronous calls; prefer the asynchronous ones in async code.</item>
/// </list>
/// </remarks>
public sealed class EtcdDistributedReaderWriterLock : IDistributedReaderWriterLock
{
    private readonly IEtcdLockProvider _locks;
    private readonly int? _ttlSeconds;

    internal EtcdDistributedReaderWriterLock(IEtcdLockProvider locks, string name, string key, int? ttlSeconds)
    {
        _locks = locks;
        Name = name;
        Key = key;
        _ttlSeconds = ttlSeconds;
    }

    /// <summary>The name the lock was created with, as given (any string, the empty one included).</summary>
    public string Name { get; }

    /// <summary>
    /// The key under which this lock's readers and writers are put through <see cref="IEtcdLockProvider"/> (the engine
    /// puts its own key prefix before it): see <see cref="EtcdDistributedSynchronizationProvider.GetKey"/>.
    /// </summary>
    public string Key { get; }

    /// <summary>Tries to take a read hold, waiting at most <paramref name="timeout"/>; blocks the calling thread.</summary>
    /// <param name="timeout">How long to wait; <see cref="TimeSpan.Zero"/> (the default) is one attempt.</param>
    /// <param name="cancellationToken">Ends the wait.</param>
    /// <returns>The handle, or <c>null</c> when a writer still had or waited for the lock when the timeout passed.</returns>
    /// <exception cref="ArgumentOutOfRangeException">The timeout is invalid.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    /// <exception cref="EtcdLockUnavailableException">etcd could not be reached.</exception>
    public EtcdDistributedReaderWriterLockHandle? TryAcquireReadLock(TimeSpan timeout = default, CancellationToken cancellationToken = default) =>
        RunTry(timeout, write: false, cancellationToken);

    /// <summary>Takes a read hold, waiting at most <paramref name="timeout"/>; blocks the calling thread.</summary>
    /// <param name="timeout">How long to wait; <c>null</c> (the default) waits without limit.</param>
    /// <param name="cancellationToken">Ends the wait.</param>
    /// <returns>The handle.</returns>
    /// <exception cref="ArgumentOutOfRangeException">The timeout is invalid.</exception>
    /// <exception cref="TimeoutException">The timeout passed while a writer had or waited for the lock (an <see cref="EtcdLockTimeoutException"/>).</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    /// <exception cref="EtcdLockUnavailableException">etcd could not be reached.</exception>
    public EtcdDistributedReaderWriterLockHandle AcquireReadLock(TimeSpan? timeout = null, CancellationToken cancellationToken = default) =>
        Run(timeout, write: false, cancellationToken);

    /// <summary>Tries to take a read hold, waiting at most <paramref name="timeout"/>.</summary>
    /// <param name="timeout">How long to wait; <see cref="TimeSpan.Zero"/> (the default) is one attempt.</param>
    /// <param name="cancellationToken">Ends the wait.</param>
    /// <returns>The handle, or <c>null</c> when a writer still had or waited for the lock when the timeout passed.</returns>
    /// <exception cref="ArgumentOutOfRangeException">The timeout is invalid (thrown by the call itself, not by the task).</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    /// <exception cref="EtcdLockUnavailableException">etcd could not be reached.</exception>
    public ValueTask<EtcdDistributedReaderWriterLockHandle?> TryAcquireReadLockAsync(TimeSpan timeout = default, CancellationToken cancellationToken = default) =>
        TryAcquireCoreAsync(EtcdDistributedLock.ToWait(timeout), write: false, cancellationToken);

    /// <summary>Takes a read hold, waiting at most <paramref name="timeout"/>.</summary>
    /// <param name="timeout">How long to wait; <c>null</c> (the default) waits without limit.</param>
    /// <param name="cancellationToken">Ends the wait.</param>
    /// <returns>The handle.</returns>
    /// <exception cref="ArgumentOutOfRangeException">The timeout is invalid (thrown by the call itself, not by the task).</exception>
    /// <exception cref="TimeoutException">The timeout passed while a writer had or waited for the lock (an <see cref="EtcdLockTimeoutException"/>).</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    /// <exception cref="EtcdLockUnavailableException">etcd could not be reached.</exception>
    public ValueTask<EtcdDistributedReaderWriterLockHandle> AcquireReadLockAsync(TimeSpan? timeout = null, CancellationToken cancellationToken = default) =>
        AcquireCoreAsync(EtcdDistributedLock.ToWait(timeout), write: false, cancellationToken);

    /// <summary>Tries to take the write hold, waiting at most <paramref name="timeout"/>; blocks the calling thread.</summary>
    /// <param name="timeout">How long to wait; <see cref="TimeSpan.Zero"/> (the default) is one attempt.</param>
    /// <param name="cancellationToken">Ends the wait.</param>
    /// <returns>The handle, or <c>null</c> when others still had or waited for the lock when the timeout passed.</returns>
    /// <exception cref="ArgumentOutOfRangeException">The timeout is invalid.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    /// <exception cref="EtcdLockUnavailableException">etcd could not be reached.</exception>
    public EtcdDistributedReaderWriterLockHandle? TryAcquireWriteLock(TimeSpan timeout = default, CancellationToken cancellationToken = default) =>
        RunTry(timeout, write: true, cancellationToken);

    /// <summary>Takes the write hold, waiting at most <paramref name="timeout"/>; blocks the calling thread.</summary>
    /// <param name="timeout">How long to wait; <c>null</c> (the default) waits without limit.</param>
    /// <param name="cancellationToken">Ends the wait.</param>
    /// <returns>The handle.</returns>
    /// <exception cref="ArgumentOutOfRangeException">The timeout is invalid.</exception>
    /// <exception cref="TimeoutException">The timeout passed while others had or waited for the lock (an <see cref="EtcdLockTimeoutException"/>).</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    /// <exception cref="EtcdLockUnavailableException">etcd could not be reached.</exception>
    public EtcdDistributedReaderWriterLockHandle AcquireWriteLock(TimeSpan? timeout = null, CancellationToken cancellationToken = default) =>
        Run(timeout, write: true, cancellationToken);

    /// <summary>Tries to take the write hold, waiting at most <paramref name="timeout"/>.</summary>
    /// <param name="timeout">How long to wait; <see cref="TimeSpan.Zero"/> (the default) is one attempt.</param>
    /// <param name="cancellationToken">Ends the wait.</param>
    /// <returns>The handle, or <c>null</c> when others still had or waited for the lock when the timeout passed.</returns>
    /// <exception cref="ArgumentOutOfRangeException">The timeout is invalid (thrown by the call itself, not by the task).</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    /// <exception cref="EtcdLockUnavailableException">etcd could not be reached.</exception>
    public ValueTask<EtcdDistributedReaderWriterLockHandle?> TryAcquireWriteLockAsync(TimeSpan timeout = default, CancellationToken cancellationToken = default) =>
        TryAcquireCoreAsync(EtcdDistributedLock.ToWait(timeout), write: true, cancellationToken);

    /// <summary>Takes the write hold, waiting at most <paramref name="timeout"/>.</summary>
    /// <param name="timeout">How long to wait; <c>null</c> (the default) waits without limit.</param>
    /// <param name="cancellationToken">Ends the wait.</param>
    /// <returns>The handle.</returns>
    /// <exception cref="ArgumentOutOfRangeException">The timeout is invalid (thrown by the call itself, not by the task).</exception>
    /// <exception cref="TimeoutException">The timeout passed while others had or waited for the lock (an <see cref="EtcdLockTimeoutException"/>).</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    /// <exception cref="EtcdLockUnavailableException">etcd could not be reached.</exception>
    public ValueTask<EtcdDistributedReaderWriterLockHandle> AcquireWriteLockAsync(TimeSpan? timeout = null, CancellationToken cancellationToken = default) =>
        AcquireCoreAsync(EtcdDistributedLock.ToWait(timeout), write: true, cancellationToken);

    IDistributedSynchronizationHandle? IDistributedReaderWriterLock.TryAcquireReadLock(TimeSpan timeout, CancellationToken cancellationToken) =>
        TryAcquireReadLock(timeout, cancellationToken);

    IDistributedSynchronizationHandle IDistributedReaderWriterLock.AcquireReadLock(TimeSpan? timeout, CancellationToken cancellationToken) =>
        AcquireReadLock(timeout, cancellationToken);

    ValueTask<IDistributedSynchronizationHandle?> IDistributedReaderWriterLock.TryAcquireReadLockAsync(TimeSpan timeout, CancellationToken cancellationToken) =>
        HandleTasks.Upcast(TryAcquireReadLockAsync(timeout, cancellationToken));

    ValueTask<IDistributedSynchronizationHandle> IDistributedReaderWriterLock.AcquireReadLockAsync(TimeSpan? timeout, CancellationToken cancellationToken) =>
        HandleTasks.UpcastHeld(AcquireReadLockAsync(timeout, cancellationToken));

    IDistributedSynchronizationHandle? IDistributedReaderWriterLock.TryAcquireWriteLock(TimeSpan timeout, CancellationToken cancellationToken) =>
        TryAcquireWriteLock(timeout, cancellationToken);

    IDistributedSynchronizationHandle IDistributedReaderWriterLock.AcquireWriteLock(TimeSpan? timeout, CancellationToken cancellationToken) =>
        AcquireWriteLock(timeout, cancellationToken);

    ValueTask<IDistributedSynchronizationHandle?> IDistributedReaderWriterLock.TryAcquireWriteLockAsync(TimeSpan timeout, CancellationToken cancellationToken) =>
        HandleTasks.Upcast(TryAcquireWriteLockAsync(timeout, cancellationToken));

    ValueTask<IDistributedSynchronizationHandle> IDistributedReaderWriterLock.AcquireWriteLockAsync(TimeSpan? timeout, CancellationToken cancellationToken) =>
        HandleTasks.UpcastHeld(AcquireWriteLockAsync(timeout, cancellationToken));

    /// <inheritdoc />
    public override string ToString() => $"EtcdDistributedReaderWriterLock(Name={Name}, Key={Key})";

    private EtcdDistributedReaderWriterLockHandle? RunTry(TimeSpan timeout, bool write, CancellationToken cancellationToken)
    {
        TimeSpan wait = EtcdDistributedLock.ToWait(timeout);
        return SyncOverAsync.Run(static s => s.@this.TryAcquireCoreAsync(s.wait, s.write, s.cancellationToken), (@this: this, wait, write, cancellationToken));
    }

    private EtcdDistributedReaderWriterLockHandle Run(TimeSpan? timeout, bool write, CancellationToken cancellationToken)
    {
        TimeSpan wait = EtcdDistributedLock.ToWait(timeout);
        return SyncOverAsync.Run(static s => s.@this.AcquireCoreAsync(s.wait, s.write, s.cancellationToken), (@this: this, wait, write, cancellationToken));
    }

    // Called from inside these async methods on purpose, as EtcdDistributedLock does: flow-local state an acquire records
    // is undone when they return.
    private async ValueTask<EtcdDistributedReaderWriterLockHandle?> TryAcquireCoreAsync(TimeSpan wait, bool write, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        EtcdLockOptions options = Options(wait);
        EtcdLockHandle? hold = write
            ? await _locks.TryAcquireWriteLockAsync(Key, options, cancellationToken).ConfigureAwait(false)
            : await _locks.TryAcquireReadLockAsync(Key, options, cancellationToken).ConfigureAwait(false);
        return hold is null ? null : new EtcdDistributedReaderWriterLockHandle(hold, write);
    }

    private async ValueTask<EtcdDistributedReaderWriterLockHandle> AcquireCoreAsync(TimeSpan wait, bool write, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        EtcdLockOptions options = Options(wait);
        EtcdLockHandle hold = write
            ? await _locks.AcquireWriteLockAsync(Key, options, cancellationToken).ConfigureAwait(false)
            : await _locks.AcquireReadLockAsync(Key, options, cancellationToken).ConfigureAwait(false);
        return new EtcdDistributedReaderWriterLockHandle(hold, write);
    }

    private EtcdLockOptions Options(TimeSpan wait) => new() { TtlSeconds = _ttlSeconds, WaitTimeout = wait };
}
