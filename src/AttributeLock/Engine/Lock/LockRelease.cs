using System.Diagnostics;
using AttributeLock.Engine.Session;
using Etcdserverpb;

namespace AttributeLock.Engine.Lock;

/// <summary>
/// The release of a lock hold, by its owner (the handle's dispose), by the provider's dispose, or for a handle collected
/// without being disposed. In order:
/// <list type="number">
/// <item><see cref="HoldBase.MarkReleased(out bool)"/>: once; a second release does nothing.</item>
/// <item>The session forgets the hold; its lease is no longer kept nor its key watched.</item>
/// <item>Released before its minimum hold (<see cref="EtcdLockOptions.HoldAtLeast"/>) and still ours, the key moves
/// onto a lease of its own that ends when the minimum has passed (<see cref="LockMinimumHold"/>), and the hold's lease
/// is revoked. Otherwise:</item>
/// <item>The lease is revoked (which deletes the key): the caller waits for etcd while the hold is live; a lost hold's
/// revoke goes out behind the caller (etcd is likely what failed). A failed revoke is retried in the background until
/// the lease's TTL has passed.</item>
/// <item>A key overwritten in place by another writer is deleted if still our incarnation; the local gate passes to
/// the next caller of this process; the hold's duration is recorded.</item>
/// </list>
/// Every release is counted in flight from before the hold is marked released, so a dispose that no longer sees the
/// hold among the open ones still waits for its revoke before it closes the connection. Never throws.
/// </summary>
internal sealed class LockRelease
{
    private readonly IEtcdCalls _calls;
    private readonly ILeaseGrants _grants;
    private readonly ISessionWork _work;
    private readonly KeyWatcher _watcher;
    private readonly LocalGates _gates;
    private readonly LockMinimumHold _minimum;
    // Releases that handed an end signal to a thread of their own (someone could be listening); for the probe.
    private int _endSignals;

    public LockRelease(IEtcdCalls calls, ILeaseGrants grants, ISessionWork work, KeyWatcher watcher, LocalGates gates)
    {
        _calls = calls;
        _grants = grants;
        _work = work;
        _watcher = watcher;
        _gates = gates;
        _minimum = new LockMinimumHold(calls, grants, work);
    }

    /// <summary>How many releases signalled the hold's end (a nested handle or a nested call could be listening).</summary>
    public int EndSignals => Volatile.Read(ref _endSignals);

    public async ValueTask ReleaseAsync(LockHold hold)
    {
        // One method, not a wrapper around a core: a release is on every call's path and each async layer costs a
        // state machine. Counted in flight from before the hold is marked released: dispose waits for the revoke.
        _work.Begin();
        try
        {
            if (!hold.MarkReleased(out bool signalled))
            {
                return;
            }

            if (signalled)
            {
                Interlocked.Increment(ref _endSignals);
            }

            bool keyGone = false; // the revoke was confirmed: the key is gone (a queue ticket's slot may be used again)
            _work.Unregister(hold);
            hold.Lease.Retire();
            _watcher.Remove(hold);
            try
            {
                // Kept: the key stays on a lease of its own until the minimum has passed, and the hold's lease is
                // revoked below as in any release. The gate passes on below: a caller of this process goes to etcd,
                // finds the key taken, waits or skips.
                LockMinimumHold.Outcome kept = await KeepForMinimumAsync(hold).ConfigureAwait(false);
                if (hold.IsLost || kept == LockMinimumHold.Outcome.EtcdFailed)
                {
                    // Already lost (its deadline passed, etcd said the lease is gone, or dispose), or etcd just failed the
                    // minimum hold's requests: the caller does not wait for etcd (again), which is likely what failed. The revoke still goes out, behind the caller (counted in
                    // flight, retried until the TTL has passed), so that others need not wait for the TTL.
                    _grants.RevokeInBackground(hold.Key, hold.LeaseId, (int)hold.TtlSeconds);
                }
                else
                {
                    // A failure is retried behind the caller (counted in flight, so dispose waits for it) for up to TTL + 1 s.
                    Exception? failure = null;
                    try
                    {
                        await _grants.SendRevokeAsync(hold.LeaseId).ConfigureAwait(false);
                    }
                    catch (Exception ex)
                    {
                        failure = ex;
                    }

                    _grants.RevokeEnded(hold.Key, hold.LeaseId, (int)hold.TtlSeconds, failure);
                    keyGone = (failure is null || EtcdErrors.IsLeaseNotFound(failure)) && kept == LockMinimumHold.Outcome.NotNeeded;
                }
            }
            finally
            {
                if (hold.OverwrittenInPlace)
                {
                    // Behind the caller, like the revoke of a lost hold (counted in flight: dispose waits for it).
                    _work.RunInBackground(() => DeleteOverwrittenKeyAsync(hold));
                }

                _gates.Exit(hold.Key, hold.Gate);
                hold.Place?.Left(hold, keyGone && !hold.OverwrittenInPlace); // a queue primitive's place here is free only now
                double heldMs = Stopwatch.GetElapsedTime(hold.AcquiredTimestamp).TotalMilliseconds;
                _calls.Metrics.HoldDuration.Record(heldMs);
                Log.Released(_calls.Logger, hold.Key, hold.LeaseId, heldMs);
            }
        }
        finally
        {
            _work.End();
        }
    }

    /// <summary>
    /// A hold released before its minimum (<see cref="EtcdLockOptions.HoldAtLeast"/>) keeps its key taken on a lease of
    /// its own (<see cref="LockMinimumHold"/>): when it is still ours, that is live, or ended by this process (the
    /// provider's dispose, an abandoned handle) rather than lost in etcd. A lost or overwritten hold keeps nothing.
    /// </summary>
    /// <returns>Kept: the hold's lease was revoked; otherwise release as usual.</returns>
    private ValueTask<LockMinimumHold.Outcome> KeepForMinimumAsync(LockHold hold)
    {
        TimeSpan remaining = hold.RemainingMinimum();
        if (remaining <= TimeSpan.Zero || hold.OverwrittenInPlace || (hold.IsLost && !hold.EndedHere))
        {
            return ValueTask.FromResult(LockMinimumHold.Outcome.NotNeeded);
        }

        return _minimum.TryKeepAsync(hold, remaining);
    }

    /// <summary>
    /// The hold's key was overwritten in place by another writer (it kept our create revision but may have left our
    /// lease, so the revoke did not delete it and nothing ever would): delete it, but only while it is still our
    /// incarnation of the key (create revision = fencing token). A key re-created by another holder has another create
    /// revision and is never touched. Never throws.
    /// </summary>
    private async Task DeleteOverwrittenKeyAsync(LockHold hold)
    {
        var txn = new TxnRequest();
        txn.Compare.Add(GuardedWrites.OwnershipComparisons(hold.KeyBytes, hold.FencingToken, hold.LeaseId)[0]);
        txn.Success.Add(new RequestOp { RequestDeleteRange = new DeleteRangeRequest { Key = hold.KeyBytes } });
        try
        {
            TxnResponse answer = await _calls.Kv.TxnAsync(txn, _calls.CallOptions()).ConfigureAwait(false);
            Log.OverwrittenKeyDeleted(_calls.Logger, hold.Key, hold.FencingToken, answer.Succeeded);
        }
        catch (Exception ex)
        {
            Log.RevokeFailed(_calls.Logger, hold.Key, hold.LeaseId, ex.Message);
        }
    }

    /// <summary>A handle was collected without being disposed: stop renewing, revoke, free the local gate.</summary>
    public void OnAbandoned(LockHold hold)
    {
        if (hold.State == HoldState.Released)
        {
            return;
        }

        // Off the finalizer thread: logging and the revoke may block or take time.
        ThreadPool.UnsafeQueueUserWorkItem(static s => s.Release.ReleaseAbandoned(s.Hold), (Release: this, Hold: hold), preferLocal: false);
    }

    private void ReleaseAbandoned(LockHold hold)
    {
        Log.Abandoned(_calls.Logger, hold.Key, hold.LeaseId, hold.FencingToken);
        // Whoever still works under this hold (a kept LostToken) must learn it ends before the key is freed. Ended
        // here, not lost in etcd: a minimum hold still applies.
        hold.EndHere("the handle was garbage-collected without being disposed; the lock is being released");
        _ = ReleaseAsync(hold);
    }
}
