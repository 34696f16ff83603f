namespace AttributeLock;

/// <summary>
/// A held lock. Dispose it to release the lock: the lease is revoked, which deletes the key.
/// </summary>
public sealed class EtcdLockHandle : IAsyncDisposable
{
    private readonly LockHold _hold;

    internal LockHold Hold => _hold;
    private int _disposed;

    internal EtcdLockHandle(LockHold hold, bool isNested)
    {
        _hold = hold;
        IsNested = isNested;
    }

    /// <summary>The full key in etcd (the provider's prefix included).</summary>
    public string Key => _hold.Key;

    /// <summary>The id of the etcd lease the key is attached to.</summary>
    public long LeaseId => _hold.LeaseId;

    /// <summary>
    /// The key's create revision in etcd. It is strictly greater for every later holder of the same key,
    /// so a downstream store that remembers the largest token it has seen can reject writes of a stale holder.
    /// </summary>
    public long FencingToken => _hold.FencingToken;

    /// <summary>
    /// Cancelled when the hold is lost: the lease's deadline (last confirmed renewal + TTL, on this machine's
    /// monotonic clock) passed, or etcd reported the lease gone. After that another holder may have the lock.
    /// Not cancelled by a normal release.
    /// </summary>
    public CancellationToken LostToken => _hold.LostToken;

    /// <summary><c>true</c> once the hold has been lost (see <see cref="LostToken"/>).</summary>
    public bool IsLost => _hold.LostToken.IsCancellationRequested;

    /// <summary>
    /// <c>true</c> for a reentrant acquisition inside a flow that already held the key: it shares the outer
    /// hold, and disposing it does not release the lock.
    /// </summary>
    public bool IsNested { get; }

    /// <summary>The lease's time to live that etcd granted, in seconds.</summary>
    public long TtlSeconds => _hold.TtlSeconds;

    /// <summary>
    /// Releases the lock (revokes the lease). A nested handle only ends its own scope. Never throws: when etcd
    /// cannot be reached the failure is logged and the lease expires after its TTL.
    /// </summary>
    /// <returns>A task that completes when the release was tried.</returns>
    public ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return ValueTask.CompletedTask;
        }

        // Synchronous part on purpose: it runs in the caller's execution context, so the
        // async flow stops seeing this hold as held (see HeldLocks).
        HeldLocks.Pop(this);
        return IsNested ? ValueTask.CompletedTask : _hold.ReleaseAsync();
    }

    /// <inheritdoc />
    public override string ToString() => $"EtcdLockHandle(Key={Key}, LeaseId={LeaseId}, FencingToken={FencingToken}, Lost={IsLost}, Nested={IsNested})";
}

/// <summary>Gives code running inside a locked call access to the lock it runs under.</summary>
public static class EtcdLockContext
{
    /// <summary>
    /// The innermost lock held by the current async flow (a generated wrapper's or one acquired through
    /// <see cref="IEtcdLockProvider"/>), or <c>null</c> outside any hold.
    /// </summary>
    public static EtcdLockHandle? Current => HeldLocks.Innermost();
}
