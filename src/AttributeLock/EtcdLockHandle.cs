using AttributeLock.Engine;

namespace AttributeLock;

/// <summary>
/// A held lock. Dispose it to release the lock: the lease is revoked, which deletes the key.
/// </summary>
/// <remarks>
/// A handle that is never disposed and becomes unreachable is released for you when the garbage collector finds it
/// (renewal stops, the lease is revoked, the local queue moves on, and a warning is logged); always dispose it instead.
/// </remarks>
public sealed class EtcdLockHandle : IAsyncDisposable
{
    private readonly HoldBase _hold;
    private int _disposed;

    internal EtcdLockHandle(HoldBase hold, bool isNested)
    {
        _hold = hold;
        IsNested = isNested;
        if (isNested)
        {
            // A nested handle owns nothing: the outer call's scope releases the hold.
            GC.SuppressFinalize(this);
        }
    }

    /// <summary>Releases an abandoned hold (the handle was collected without being disposed).</summary>
    ~EtcdLockHandle()
    {
        if (Volatile.Read(ref _disposed) == 0)
        {
            _hold.OnAbandoned();
        }
    }

    internal HoldBase Hold => _hold;

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
    /// Cancelled when the hold is lost: the lease's deadline (last confirmed renewal + TTL, on a clock that counts time
    /// the machine spends suspended: <c>CLOCK_BOOTTIME</c> on Linux) passed, etcd reported the lease gone, the key was
    /// deleted, overwritten or taken over behind the holder's back (seen by the key's watch or by the batched read of the
    /// held keys at every renewal), or the provider was disposed. After that another holder may have the lock. Not
    /// cancelled by a normal release. For a nested handle: cancelled when the outer hold ends for any reason. Callbacks
    /// registered on it run on threads of the library's own, never on the thread pool nor the renewal machinery, and a
    /// callback that blocks delays no other hold's signal.
    /// </summary>
    public CancellationToken LostToken => IsNested ? _hold.EndedToken : _hold.LostToken;

    /// <summary>
    /// <c>true</c> once the hold has been lost (see <see cref="LostToken"/>); for a nested handle, once the outer hold
    /// has ended. Becomes <c>true</c> the moment the loss is detected, possibly just before <see cref="LostToken"/>'s
    /// callbacks run.
    /// </summary>
    public bool IsLost => IsNested ? _hold.State != HoldState.Held : _hold.IsLost;

    /// <summary>
    /// <c>true</c> for a generated wrapper's call nested in another call on the same key (same provider, same async
    /// flow, outer hold still live): it shares the outer hold, and disposing it does not release the lock.
    /// </summary>
    public bool IsNested { get; }

    /// <summary>The lease's time to live that etcd granted, in seconds.</summary>
    public long TtlSeconds => _hold.TtlSeconds;

    /// <summary>
    /// Releases the lock (revokes the lease) from whichever flow calls it: the hold ends everywhere. A nested handle
    /// only ends its own scope. Never throws: when etcd cannot be reached the failure is logged and the lease expires
    /// after its TTL.
    /// </summary>
    /// <returns>A task that completes when the release was tried.</returns>
    public ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return ValueTask.CompletedTask;
        }

        GC.SuppressFinalize(this);
        return IsNested ? ValueTask.CompletedTask : _hold.ReleaseAsync();
    }

    /// <summary>
    /// The etcd comparison that the lock key's create revision equals <see cref="FencingToken"/> (Go's
    /// <c>Mutex.IsOwner()</c>): false once the key was deleted and re-created by another holder. It does not see the key
    /// overwritten in place by a foreign writer, nor a token repeated after etcd's data was restored from an older
    /// backup; <see cref="OwnershipComparisons"/> adds the lease comparison that does. Each call returns a new instance.
    /// </summary>
    /// <returns>A comparison on the lock key (prefix included).</returns>
    public Etcdserverpb.Compare OwnershipComparison() => _hold.OwnershipComparisons()[0];

    /// <summary>
    /// The etcd comparisons that are all true exactly while this hold owns its key: the lock key's create revision equals
    /// <see cref="FencingToken"/> and its lease is <see cref="LeaseId"/>. Add them all to the <c>Compare</c> list of your
    /// own <see cref="Etcdserverpb.TxnRequest"/>: its <c>Success</c> operations then cannot land once another holder
    /// has the key, the key was overwritten, or the token repeats after a restore, whatever this process's clock or
    /// pauses. This is what <see cref="WriteIfHeldAsync"/> uses. Each call returns new instances.
    /// </summary>
    /// <returns>The comparisons on the lock key (prefix included), in the order to add them.</returns>
    public IReadOnlyList<Etcdserverpb.Compare> OwnershipComparisons() => _hold.OwnershipComparisons();

    /// <summary>
    /// Applies <paramref name="operations"/> (puts, deletes, ranges) in one etcd transaction only if this hold still
    /// owns its key (<see cref="OwnershipComparisons"/>). When it does not, nothing is applied, the hold is marked lost
    /// and <see cref="EtcdLockNotHeldException"/> names the holder now — a refusal is never silent. Operations that
    /// would write a lock key (this hold's own key, or another key this provider holds) are refused with
    /// <see cref="ArgumentException"/> before anything is sent: they would detach the key from its lease and the lock
    /// would never free.
    /// </summary>
    /// <param name="operations">The operations of the transaction's success branch, in order.</param>
    /// <param name="cancellationToken">Cancels the request (the write may or may not have been applied then).</param>
    /// <returns>The transaction's answer (its responses are those of <paramref name="operations"/>).</returns>
    /// <exception cref="EtcdLockNotHeldException">The hold no longer owns the key; nothing was written.</exception>
    /// <exception cref="EtcdLockUnavailableException">etcd could not be reached or refused the request.</exception>
    /// <exception cref="ArgumentException">An operation writes a lock key; nothing was sent.</exception>
    public Task<Etcdserverpb.TxnResponse> WriteIfHeldAsync(IEnumerable<Etcdserverpb.RequestOp> operations, CancellationToken cancellationToken = default) =>
        _hold.WriteIfHeldAsync(operations, cancellationToken);

    /// <summary>
    /// Puts <paramref name="value"/> at <paramref name="key"/> (a plain etcd key, not prefixed) only if this hold still
    /// owns its lock key; see <see cref="WriteIfHeldAsync(IEnumerable{Etcdserverpb.RequestOp}, CancellationToken)"/>.
    /// </summary>
    /// <param name="key">The etcd key to write.</param>
    /// <param name="value">The value, written as UTF-8.</param>
    /// <param name="cancellationToken">Cancels the request.</param>
    /// <returns>The etcd revision of the write.</returns>
    /// <exception cref="EtcdLockNotHeldException">The hold no longer owns the key; nothing was written.</exception>
    /// <exception cref="EtcdLockUnavailableException">etcd could not be reached or refused the request.</exception>
    public async Task<long> PutIfHeldAsync(string key, string value, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(key);
        ArgumentNullException.ThrowIfNull(value);
        Etcdserverpb.TxnResponse answer = await WriteIfHeldAsync(
            [new Etcdserverpb.RequestOp { RequestPut = new Etcdserverpb.PutRequest { Key = Google.Protobuf.ByteString.CopyFromUtf8(key), Value = Google.Protobuf.ByteString.CopyFromUtf8(value) } }],
            cancellationToken).ConfigureAwait(false);
        return answer.Header.Revision;
    }

    /// <summary>
    /// Reads <paramref name="key"/> (a plain etcd key: not under the provider's <c>KeyPrefix</c>, like the keys of
    /// <see cref="PutIfHeldAsync"/>) through the provider's own connection: the read half of a read-modify-write whose
    /// write is <see cref="PutIfHeldAsync"/> or <see cref="WriteIfHeldAsync"/>. A linearizable read with the provider's
    /// request timeout and credentials; failures come as <see cref="EtcdLockUnavailableException"/>, as for guarded writes.
    /// The read itself is not guarded (it works on a lost hold too): the guarded write that follows refuses to apply when
    /// the hold no longer owns its key, so a value read by a stale holder is never written back.
    /// </summary>
    /// <param name="key">The etcd key to read.</param>
    /// <param name="cancellationToken">Cancels the request.</param>
    /// <returns>The key's value decoded as UTF-8, or <c>null</c> when the key does not exist.</returns>
    /// <exception cref="EtcdLockUnavailableException">etcd could not be reached or refused the request.</exception>
    public async Task<string?> GetAsync(string key, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(key);
        Etcdserverpb.RangeResponse answer = await RangeAsync(
            new Etcdserverpb.RangeRequest { Key = Google.Protobuf.ByteString.CopyFromUtf8(key) },
            cancellationToken).ConfigureAwait(false);
        return answer.Kvs.Count == 0 ? null : answer.Kvs[0].Value.ToStringUtf8();
    }

    /// <summary>
    /// Sends <paramref name="request"/> (any etcd range: one key, a prefix, a revision, ...) through the provider's own
    /// connection, with its request timeout and error mapping; see <see cref="GetAsync"/>. Keys are plain etcd keys.
    /// </summary>
    /// <param name="request">The range request, as dotnet-etcd builds it.</param>
    /// <param name="cancellationToken">Cancels the request.</param>
    /// <returns>etcd's answer.</returns>
    /// <exception cref="EtcdLockUnavailableException">etcd could not be reached or refused the request.</exception>
    public Task<Etcdserverpb.RangeResponse> RangeAsync(Etcdserverpb.RangeRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        return _hold.ReadAsync(request, cancellationToken);
    }

    /// <inheritdoc />
    public override string ToString() => $"EtcdLockHandle(Key={Key}, LeaseId={LeaseId}, FencingToken={FencingToken}, Lost={IsLost}, Nested={IsNested})";
}

/// <summary>Gives code running inside a locked call access to the lock it runs under.</summary>
public static class EtcdLockContext
{
    /// <summary>
    /// The handle of the innermost generated-wrapper call on the current async flow whose hold has not been released
    /// (from any flow), or <c>null</c>. A lost hold is still current for its body (check
    /// <see cref="EtcdLockHandle.IsLost"/>; its guarded writes are refused). Holds taken with
    /// <see cref="IEtcdLockProvider"/> directly are not ambient: use their handle.
    /// </summary>
    public static EtcdLockHandle? Current => EtcdLockScope.CurrentHandle();
}
