using Medallion.Threading;

namespace AttributeLock.DistributedLock;

/// <summary>
/// A read or write hold of an <see cref="EtcdDistributedReaderWriterLock"/> (its <see cref="IDistributedSynchronizationHandle"/>).
/// Dispose it to release the hold: its etcd lease is revoked, which deletes its key.
/// </summary>
/// <remarks>
/// A handle that is never disposed does not keep the lock forever: once it has been garbage-collected the engine stops
/// renewing its lease (and revokes it), and when the process ends the lease expires after its TTL.
/// </remarks>
public sealed class EtcdDistributedReaderWriterLockHandle : IDistributedSynchronizationHandle
{
    private EtcdLockHandle? _hold;

    internal EtcdDistributedReaderWriterLockHandle(EtcdLockHandle hold, bool isWrite)
    {
        _hold = hold;
        IsWrite = isWrite;
    }

    /// <summary><c>true</c> for a write hold (alone), <c>false</c> for a read hold (beside other readers).</summary>
    public bool IsWrite { get; }

    /// <summary>
    /// Cancelled when the hold is lost before the handle is disposed: its lease expired or was revoked, its key was
    /// deleted behind the holder's back, or the engine's provider was disposed. After that a writer of another process
    /// may hold the lock. Not cancelled by disposing the handle.
    /// </summary>
    /// <exception cref="ObjectDisposedException">The handle was disposed (as DistributedLock's own handles do).</exception>
    public CancellationToken HandleLostToken => Hold.LostToken;

    /// <summary>The hold key's create revision in etcd: strictly greater for every later reader or writer.</summary>
    /// <exception cref="ObjectDisposedException">The handle was disposed.</exception>
    public long FencingToken => Hold.FencingToken;

    /// <summary>The id of the etcd lease the hold's key is attached to.</summary>
    /// <exception cref="ObjectDisposedException">The handle was disposed.</exception>
    public long LeaseId => Hold.LeaseId;

    /// <summary>
    /// The hold's full key in etcd: the engine's key prefix, <see cref="EtcdDistributedReaderWriterLock.Key"/>, then
    /// <c>/#rw/r/</c> (a reader) or <c>/#rw/w/</c> (a writer) and the lease id.
    /// </summary>
    /// <exception cref="ObjectDisposedException">The handle was disposed.</exception>
    public string Key => Hold.Key;

    private EtcdLockHandle Hold => Volatile.Read(ref _hold) ?? throw new ObjectDisposedException(nameof(EtcdDistributedReaderWriterLockHandle));

    /// <summary>Releases the hold, blocking until the release was tried. Idempotent; never throws.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _hold, null) is { } hold)
        {
            SyncOverAsync.Run(static h => h.DisposeAsync(), hold);
        }
    }

    /// <summary>
    /// Releases the hold (revokes its lease). Idempotent; never throws: when etcd cannot be reached the failure is logged
    /// and the lease expires after its TTL.
    /// </summary>
    /// <returns>A task that completes when the release was tried.</returns>
    public ValueTask DisposeAsync() => Interlocked.Exchange(ref _hold, null)?.DisposeAsync() ?? default;

    /// <inheritdoc />
    public override string ToString() =>
        Volatile.Read(ref _hold) is { } hold
            ? $"EtcdDistributedReaderWriterLockHandle({(IsWrite ? "Write" : "Read")}, Key={hold.Key}, FencingToken={hold.FencingToken}, Lost={hold.IsLost})"
            : "EtcdDistributedReaderWriterLockHandle(disposed)";
}
