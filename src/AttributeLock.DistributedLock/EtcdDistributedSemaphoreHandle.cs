using Medallion.Threading;

namespace AttributeLock.DistributedLock;

/// <summary>
/// A place held in an <see cref="EtcdDistributedSemaphore"/> (the semaphore's <see cref="IDistributedSynchronizationHandle"/>).
/// Dispose it to give the place back: the ticket's etcd lease is revoked, which deletes its key, and the oldest waiter
/// takes the place.
/// </summary>
/// <remarks>
/// A handle that is never disposed does not keep its place forever: once it has been garbage-collected the engine stops
/// renewing its lease (and revokes it), and when the process ends the lease expires after its TTL.
/// </remarks>
public sealed class EtcdDistributedSemaphoreHandle : IDistributedSynchronizationHandle
{
    private EtcdLockHandle? _hold;

    internal EtcdDistributedSemaphoreHandle(EtcdLockHandle hold) => _hold = hold;

    /// <summary>
    /// Cancelled when the place is lost before the handle is disposed: the ticket's lease expired or was revoked, its key
    /// was deleted behind the holder's back, or the engine's provider was disposed. After that one more holder than
    /// <see cref="EtcdDistributedSemaphore.MaxCount"/> may be inside. Not cancelled by disposing the handle.
    /// </summary>
    /// <exception cref="ObjectDisposedException">The handle was disposed (as DistributedLock's own handles do).</exception>
    public CancellationToken HandleLostToken => Hold.LostToken;

    /// <summary>The ticket key's create revision in etcd: strictly greater for every later ticket.</summary>
    /// <exception cref="ObjectDisposedException">The handle was disposed.</exception>
    public long FencingToken => Hold.FencingToken;

    /// <summary>The id of the etcd lease the ticket's key is attached to.</summary>
    /// <exception cref="ObjectDisposedException">The handle was disposed.</exception>
    public long LeaseId => Hold.LeaseId;

    /// <summary>
    /// The ticket's full key in etcd: the engine's key prefix, <see cref="EtcdDistributedSemaphore.Key"/>, then
    /// <c>/#sem/</c> and the lease id.
    /// </summary>
    /// <exception cref="ObjectDisposedException">The handle was disposed.</exception>
    public string Key => Hold.Key;

    private EtcdLockHandle Hold => Volatile.Read(ref _hold) ?? throw new ObjectDisposedException(nameof(EtcdDistributedSemaphoreHandle));

    /// <summary>Gives the place back, blocking until the release was tried. Idempotent; never throws.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _hold, null) is { } hold)
        {
            SyncOverAsync.Run(static h => h.DisposeAsync(), hold);
        }
    }

    /// <summary>
    /// Gives the place back (revokes the ticket's lease). Idempotent; never throws: when etcd cannot be reached the failure
    /// is logged and the lease expires after its TTL.
    /// </summary>
    /// <returns>A task that completes when the release was tried.</returns>
    public ValueTask DisposeAsync() => Interlocked.Exchange(ref _hold, null)?.DisposeAsync() ?? default;

    /// <inheritdoc />
    public override string ToString() =>
        Volatile.Read(ref _hold) is { } hold ? $"EtcdDistributedSemaphoreHandle(Key={hold.Key}, FencingToken={hold.FencingToken}, Lost={hold.IsLost})" : "EtcdDistributedSemaphoreHandle(disposed)";
}
