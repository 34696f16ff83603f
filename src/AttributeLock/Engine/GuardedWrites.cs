using AttributeLock.Engine.Session;
using Etcdserverpb;
using Google.Protobuf;
using Grpc.Core;

namespace AttributeLock.Engine;

/// <summary>
/// Writes that etcd applies only while a hold owns its key. The ownership check happens inside etcd, in the write's
/// own transaction, so it holds whatever the client's clock or pauses: a lease alone cannot give that (etcd's docs,
/// Jepsen's etcd 3.4.3 analysis).
/// </summary>
/// <remarks>
/// Ownership is two comparisons on the lock key: its create revision is the hold's fencing token (the key was not
/// deleted and re-created: Go's <c>Mutex.IsOwner()</c>) and its lease is the hold's lease (the key was not overwritten
/// in place, which keeps the create revision; and a fencing token repeated after etcd's revisions were rewound by a
/// restore comes with another lease, since our lease ids are random 63-bit numbers). A guarded write may not write a
/// lock key: writing one would detach it from its lease, and the lock would never free. Refused: the hold's own key
/// (a put, or a delete whose range covers it) and any other key this provider holds now (a put or a
/// single-key delete). Keys under the provider's <c>KeyPrefix</c> are otherwise allowed: applications keep data there.
/// </remarks>
internal static class GuardedWrites
{
    public static Compare[] OwnershipComparisons(ByteString key, long fencingToken, long leaseId) =>
    [
        new Compare
        {
            Key = key,
            Target = Compare.Types.CompareTarget.Create,
            Result = Compare.Types.CompareResult.Equal,
            CreateRevision = fencingToken,
        },
        new Compare
        {
            Key = key,
            Target = Compare.Types.CompareTarget.Lease,
            Result = Compare.Types.CompareResult.Equal,
            Lease = leaseId,
        },
    ];

    /// <summary>
    /// Refuses operations that would write a lock key: the hold's own key (puts, and deletes whose range covers it),
    /// or a key that <paramref name="isLockKey"/> says is another lock key of the provider (puts and single-key
    /// deletes). Reads are allowed. Nested transactions are checked too.
    /// </summary>
    /// <exception cref="ArgumentException">An operation writes a lock key; nothing was sent.</exception>
    public static List<RequestOp> CheckOperations(IEnumerable<RequestOp> operations, string holdKey, ByteString holdKeyBytes, Func<string, bool>? isLockKey)
    {
        ArgumentNullException.ThrowIfNull(operations);
        var list = operations.ToList();
        foreach (RequestOp op in list)
        {
            Check(op, holdKey, holdKeyBytes, isLockKey);
        }

        return list;
    }

    private static void Check(RequestOp op, string holdKey, ByteString holdKeyBytes, Func<string, bool>? isLockKey)
    {
        ArgumentNullException.ThrowIfNull(op, "operations");
        switch (op.RequestCase)
        {
            case RequestOp.RequestOneofCase.RequestPut:
                Refuse(op.RequestPut.Key, ByteString.Empty, "put", holdKey, holdKeyBytes, isLockKey);
                break;
            case RequestOp.RequestOneofCase.RequestDeleteRange:
                Refuse(op.RequestDeleteRange.Key, op.RequestDeleteRange.RangeEnd, "delete", holdKey, holdKeyBytes, isLockKey);
                break;
            case RequestOp.RequestOneofCase.RequestTxn:
                foreach (RequestOp inner in op.RequestTxn.Success.Concat(op.RequestTxn.Failure))
                {
                    Check(inner, holdKey, holdKeyBytes, isLockKey);
                }

                break;
        }
    }

    private static void Refuse(ByteString key, ByteString rangeEnd, string what, string holdKey, ByteString holdKeyBytes, Func<string, bool>? isLockKey)
    {
        string? hit = null;
        if (Covers(key, rangeEnd, holdKeyBytes))
        {
            hit = $"the lock key '{holdKey}' itself";
        }
        else if (rangeEnd.IsEmpty && isLockKey is not null && isLockKey(key.ToStringUtf8()))
        {
            hit = "another lock key this provider holds";
        }

        if (hit is not null)
        {
            throw new ArgumentException(
                $"A guarded write may not {what} {hit} (the {what} was for '{key.ToStringUtf8()}'): writing a lock key detaches it from its lease and " +
                "the lock would never be freed. Write your data under keys of its own. Nothing was sent.",
                "operations");
        }
    }

    /// <summary>Whether the key or range [key, rangeEnd) includes <paramref name="target"/> (etcd's range rules).</summary>
    private static bool Covers(ByteString key, ByteString rangeEnd, ByteString target)
    {
        if (rangeEnd.IsEmpty)
        {
            return key.Equals(target);
        }

        bool fromAll = key.Length == 1 && key[0] == 0;
        bool toEnd = rangeEnd.Length == 1 && rangeEnd[0] == 0;
        return (fromAll || CompareBytes(key, target) <= 0) && (toEnd || CompareBytes(target, rangeEnd) < 0);
    }

    private static int CompareBytes(ByteString a, ByteString b) => a.Span.SequenceCompareTo(b.Span);

    /// <summary>
    /// The read half of a read-modify-write: a range request through the provider's own connection, with its request
    /// timeout and error mapping (no gRPC exception reaches the caller). Not guarded: the guarded write that follows is.
    /// </summary>
    /// <exception cref="EtcdLockUnavailableException">etcd could not be reached or refused the read.</exception>
    public static async Task<RangeResponse> ReadAsync(IEtcdCalls calls, IHeldKey hold, RangeRequest request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        try
        {
            CallOptions options = calls.CallOptions().WithCancellationToken(cancellationToken);
            return await calls.Kv.RangeAsync(request, options).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is RpcException or OperationCanceledException)
        {
            cancellationToken.ThrowIfCancellationRequested();
            throw calls.Unavailable(hold.Key, $"the read of '{request.Key.ToStringUtf8()}'", ex);
        }
    }

    /// <summary>Whether the key or range [key, rangeEnd) of a request includes <paramref name="target"/> (etcd's range rules).</summary>
    public static bool InRange(ByteString key, ByteString rangeEnd, ByteString target) => Covers(key, rangeEnd, target);

    /// <summary>
    /// Applies <paramref name="operations"/> in one transaction whose compare is the hold's ownership of its key; when
    /// etcd finds the key no longer ours, the hold is declared lost (and an overwrite in place recorded) and the caller
    /// gets <see cref="EtcdLockNotHeldException"/>.
    /// </summary>
    /// <param name="calls">The session's connection.</param>
    /// <param name="hold">The hold whose ownership guards the write.</param>
    /// <param name="isLockKey">Whether a full key is another lock key the session holds now (refused).</param>
    /// <param name="operations">The writes (and reads).</param>
    /// <param name="cancellationToken">Cancels the request.</param>
    public static async Task<TxnResponse> WriteAsync(IEtcdCalls calls, IHeldKey hold, Func<string, bool> isLockKey, IEnumerable<RequestOp> operations, CancellationToken cancellationToken)
    {
        List<RequestOp> checkedOps = CheckOperations(operations, hold.Key, hold.KeyBytes, isLockKey);
        var txn = new TxnRequest();
        txn.Compare.Add(OwnershipComparisons(hold.KeyBytes, hold.FencingToken, hold.LeaseId));
        txn.Success.AddRange(checkedOps);
        txn.Failure.Add(new RequestOp { RequestRange = new RangeRequest { Key = hold.KeyBytes } });
        TxnResponse answer;
        try
        {
            CallOptions options = calls.CallOptions().WithCancellationToken(cancellationToken);
            answer = await calls.Kv.TxnAsync(txn, options).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is RpcException or OperationCanceledException)
        {
            cancellationToken.ThrowIfCancellationRequested();
            throw calls.Unavailable(hold.Key, "the guarded write", ex);
        }

        if (answer.Succeeded)
        {
            return answer;
        }

        Mvccpb.KeyValue? current = answer.Responses.Count > 0 ? answer.Responses[0].ResponseRange?.Kvs.FirstOrDefault() : null;
        if (current is not null && current.CreateRevision == hold.FencingToken)
        {
            // Our incarnation of the key, written by someone else (its lease changed): the release deletes it.
            hold.MarkOverwrittenInPlace();
        }

        hold.MarkLost(current is null
            ? "a guarded write found the key gone"
            : current.CreateRevision == hold.FencingToken
                ? $"a guarded write found the key overwritten by another writer (lease {current.Lease} instead of {hold.LeaseId})"
                : $"a guarded write found the key held with fencing token {current.CreateRevision}");
        throw new EtcdLockNotHeldException(hold.Key, hold.FencingToken, current?.Value.ToStringUtf8(), current?.CreateRevision);
    }
}
