using AttributeLock.Engine.Session;
using Etcdserverpb;
using Google.Protobuf;

namespace AttributeLock.Engine.Lock;

/// <summary>
/// Part of a release (<see cref="LockRelease"/>): a hold released before its minimum
/// (<see cref="EtcdLockOptions.HoldAtLeast"/>, counted from the acquire) leaves its key in etcd until the minimum has
/// passed. In order:
/// <list type="number">
/// <item>Grant a fresh lease of TTL = the time left, rounded up to whole seconds (etcd may raise it to its minimum).
/// Nobody keeps it alive: it ends by itself, even when this process exits right after.</item>
/// <item>In one transaction, guarded by the key's create revision (our fencing token) and its lease (ours), put the key
/// with the same value on the fresh lease: a put keeps the create revision, so the fencing token stays.</item>
/// <item>Revoke the hold's own lease, which no longer carries the key.</item>
/// </list>
/// When the compare fails (the hold was lost: the key is gone or not ours), the fresh lease is revoked and the caller
/// revokes the hold's lease as in any release: nothing lasting is created. When etcd fails or its answer is unknown
/// (the grant and the transaction share one request timeout), the hold's lease is revoked behind the caller, who has
/// waited for etcd once already: the fresh lease, if etcd granted it, ends by itself within the time left, so no lease
/// outlives what was asked. Callers of this process waiting for the key go through etcd as always, find it taken
/// (its create revision unchanged) and keep waiting or skip.
/// </summary>
internal sealed class LockMinimumHold
{
    private readonly IEtcdCalls _calls;
    private readonly ILeaseGrants _grants;
    private readonly ISessionWork _work;

    public LockMinimumHold(IEtcdCalls calls, ILeaseGrants grants, ISessionWork work)
    {
        _calls = calls;
        _grants = grants;
        _work = work;
    }

    /// <summary>What became of the key.</summary>
    public enum Outcome
    {
        /// <summary>Nothing to keep: no minimum left, or the hold was lost or overwritten before its release.</summary>
        NotNeeded,

        /// <summary>The key is on a lease of its own; the caller revokes the hold's lease as in any release.</summary>
        Kept,

        /// <summary>The key was no longer ours (the compare failed): nothing kept; release as usual.</summary>
        NotOurs,

        /// <summary>etcd failed or refused: nothing kept for sure; release without waiting for etcd again.</summary>
        EtcdFailed,
    }

    /// <summary>The TTL asked for a key that must stay taken <paramref name="remaining"/> longer: whole seconds, rounded up.</summary>
    public static long TtlFor(TimeSpan remaining) => Math.Max(1L, (long)Math.Ceiling(remaining.TotalSeconds));

    /// <summary>
    /// Moves the hold's key onto a lease of its own that ends after <paramref name="remaining"/> (rounded up). Never
    /// throws.
    /// </summary>
    /// <returns>What became of the key; the caller revokes the hold's lease in every case.</returns>
    public async ValueTask<Outcome> TryKeepAsync(LockHold hold, TimeSpan remaining)
    {
        long ttl = TtlFor(remaining);
        long freshId = Random.Shared.NextInt64(1, long.MaxValue);
        // One request timeout for the grant and the transaction together: a release during an outage waits for etcd once.
        DateTime deadline = _calls.FirstAttemptDeadline();
        LeaseGrantResponse granted;
        try
        {
            // Our own id, as every grant of the session: a grant whose answer is lost is still this lease, which ends
            // by itself within the TTL asked (nothing keeps it alive).
            granted = await _calls.Leases.LeaseGrantAsync(new LeaseGrantRequest { TTL = ttl, ID = freshId }, _calls.CallOptions(CancellationToken.None, deadline)).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            Log.MinimumHoldFailed(_calls.Logger, hold.Key, hold.FencingToken, "the lease grant failed: " + ex.Message);
            return Outcome.EtcdFailed;
        }

        _work.EtcdAnswered();
        if (!string.IsNullOrEmpty(granted.Error))
        {
            Log.MinimumHoldFailed(_calls.Logger, hold.Key, hold.FencingToken, "etcd refused the lease: " + granted.Error);
            return Outcome.EtcdFailed;
        }

        TxnResponse answer;
        try
        {
            answer = await _calls.Kv.TxnAsync(MoveTransaction(hold.KeyBytes, _calls.HolderBytes, hold.FencingToken, hold.LeaseId, granted.ID), _calls.CallOptions(CancellationToken.None, deadline)).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            // Unknown whether it committed: if it did, the key ends with the fresh lease (within the time left); if not,
            // the caller's revoke deletes it. Either way nothing outlives what was asked.
            Log.MinimumHoldFailed(_calls.Logger, hold.Key, hold.FencingToken, "the transaction failed: " + ex.Message);
            return Outcome.EtcdFailed;
        }

        if (!answer.Succeeded && !IsOurRetriedMove(answer, hold.FencingToken, granted.ID))
        {
            // The hold was lost (the key deleted, expired, taken over or overwritten): keep nothing.
            Log.MinimumHoldFailed(_calls.Logger, hold.Key, hold.FencingToken, "the key was no longer ours");
            _grants.RevokeInBackground(hold.Key, granted.ID, (int)granted.TTL);
            return Outcome.NotOurs;
        }

        Log.KeptForMinimum(_calls.Logger, hold.Key, hold.FencingToken, granted.ID, granted.TTL, remaining.TotalMilliseconds);
        return Outcome.Kept;
    }

    /// <summary>
    /// <c>If(CreateRevision(key) == token AND Lease(key) == held) Then(Put(key, holder, fresh)) Else(Get(key))</c>.
    /// </summary>
    internal static TxnRequest MoveTransaction(ByteString key, ByteString holder, long fencingToken, long heldLease, long freshLease)
    {
        var txn = new TxnRequest();
        txn.Compare.Add(GuardedWrites.OwnershipComparisons(key, fencingToken, heldLease));
        txn.Success.Add(new RequestOp { RequestPut = new PutRequest { Key = key, Value = holder, Lease = freshLease } });
        txn.Failure.Add(new RequestOp { RequestRange = new RangeRequest { Key = key } });
        return txn;
    }

    /// <summary>
    /// A "compare failed" answer that shows the key already on the fresh lease with our token: our own transaction,
    /// committed, its answer lost and the request retried by the client.
    /// </summary>
    private static bool IsOurRetriedMove(TxnResponse answer, long fencingToken, long freshLease)
    {
        Mvccpb.KeyValue? current = answer.Responses.Count > 0 ? answer.Responses[0].ResponseRange?.Kvs.FirstOrDefault() : null;
        return current is not null && current.CreateRevision == fencingToken && current.Lease == freshLease;
    }
}
