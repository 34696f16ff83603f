using Medallion.Threading;

namespace AttributeLock.DistributedLock;

/// <summary>
/// A held <see cref="EtcdDistributedLock"/> (the <see cref="IDistributedSynchronizationHandle"/> of this backend).
/// Dispose it to release the lock: the hold's etcd lease is revoked, which deletes the key.
/// </summary>
/// <remarks>
/// A handle that is never disposed does not keep the lock forever: once it has been garbage-collected the engine stops
/// renewing its lease (and revokes it), and when the process ends the lease expires after its TTL.
/// </remarks>
public sealed class EtcdDistributedLockHandle : IDistributedSynchronizationHandle
{
    private EtcdLockHandle? _hold;

    internal EtcdDistributedLockHandle(EtcdLockHandle hold) => _hold = hold;

    /// <summary>
    /// Cancelled when the hold is lost before the handle is disposed: the lease expired (renewals failed for its TTL),
    /// it was revoked, or the key was deleted behind the holder's back; also when the engine's provider is disposed.
    /// After that another process may hold the lock. Not cancelled by disposing the handle. Costs nothing extra to read
    /// (the engine watches its leases anyway).
    /// </summary>
    /// <exception cref="ObjectDisposedException">The handle was disposed (as DistributedLock's own handles do).</exception>
    public CancellationToken HandleLostToken => Hold.LostToken;

    /// <summary>
    /// The key's create revision in etcd: strictly greater for every later holder of the same lock. A store that
    /// remembers the largest token it has seen can reject the writes of a stale holder.
    /// </summary>
    /// <exception cref="ObjectDisposedException">The handle was disposed.</exception>
    public long FencingToken => Hold.FencingToken;

    /// <summary>The id of the etcd lease the key is attached to.</summary>
    /// <exception cref="ObjectDisposedException">The handle was disposed.</exception>
    public long LeaseId => Hold.LeaseId;

    /// <summary>The full key in etcd: the engine's key prefix, then <see cref="EtcdDistributedLock.Key"/>.</summary>
    /// <exception cref="ObjectDisposedException">The handle was disposed.</exception>
    public string Key => Hold.Key;

    private EtcdLockHandle Hold => Volatile.Read(ref _hold) ?? throw new ObjectDisposedException(nameof(EtcdDistributedLockHandle));

    /// <summary>Releases the lock, blocking until the release was tried. Idempotent; never throws.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _hold, null) is { } hold)
        {
            SyncOverAsync.Run(static h => h.DisposeAsync(), hold);
        }
    }

    /// <summary>
    /// Releases the lock (revokes the lease). Idempotent; never throws: when etcd cannot be reached the failure is
    /// logged and the lease expires after its TTL.
    /// </summary>
    /// <returns>A task that completes when the release was tried.</returns>
    public ValueTask DisposeAsync() => Interlocked.Exchange(ref _hold, null)?.DisposeAsync() ?? default;

    /// <inheritdoc />
    public override string ToString() =>
        Volatile.Read(ref _hold) is { } hold ? $"EtcdDistributedLockHandle(Key={hold.Key}, FencingToken={hold.FencingToken}, Lost={hold.IsLost})" : "EtcdDistributedLockHandle(disposed)";
}
