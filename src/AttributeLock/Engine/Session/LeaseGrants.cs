using System.Diagnostics;
using Etcdserverpb;
using Grpc.Core;

namespace AttributeLock.Engine.Session;

/// <summary>Grants, adopts and revokes the session's leases, and keeps its spare leases (see <see cref="ILeaseGrants"/>).</summary>
/// <remarks>
/// Every revoke that outlives its caller runs through <see cref="ISessionWork.RunInBackground"/>: counted in flight, so
/// dispose waits for it before the connection closes. Revoke failures are logged once per outage
/// (<see cref="ISessionWork.FailureStartsOutage"/>); any answer of etcd ends the outage.
/// At most <see cref="EngineSettings.MaxRevokesInFlight"/> revokes are in flight at once (<see cref="InFlightLimit"/>):
/// ten thousand holds released together (a shutdown, a batch job) reach etcd a few dozen at a time, and the renewals of
/// the holds still kept go on between them. A revoke sent for a caller (<see cref="SendRevokeAsync"/>) holds its slot
/// until <see cref="RevokeEnded"/>; the others free it when their request ends.
/// </remarks>
internal sealed class LeaseGrants : ILeaseGrants
{
    // etcd raises a TTL below its minimum (1.5 election timeouts: 2 s with its default settings) to that minimum; a
    // raised TTL up to this bound is taken as etcd's doing when a retried grant is recognised as ours.
    private const long RaisedTtlBoundSeconds = 10;

    private readonly IEtcdCalls _calls;
    private readonly LeaseKeeper _keeper;
    private readonly ISessionWork _work;
    private readonly SpareLeases _spares;
    private readonly InFlightLimit _revokes;

    public LeaseGrants(IEtcdCalls calls, LeaseKeeper keeper, ISessionWork work, EngineSettings settings, InFlightLimit revokes)
    {
        _calls = calls;
        _keeper = keeper;
        _work = work;
        _revokes = revokes;
        _spares = new SpareLeases(this, calls, work, settings);
    }

    public async ValueTask<KeptLease> GrantAsync(string fullKey, int ttlSeconds, bool spare, CancellationToken token, DateTime? deadline = null)
    {
        for (int attempt = 0; ; attempt++)
        {
            long id = Random.Shared.NextInt64(1, long.MaxValue);
            long sent = LeaseClock.GetTimestamp();
            LeaseGrantResponse granted;
            try
            {
                granted = await _calls.Leases.LeaseGrantAsync(new LeaseGrantRequest { TTL = ttlSeconds, ID = id }, _calls.CallOptions(token, deadline)).ConfigureAwait(false);
            }
            catch (RpcException ex) when (EtcdErrors.IsLeaseExists(ex) && attempt < 3)
            {
                // Most likely our own grant: committed, its answer lost, and the request retried by the client. A lease
                // with this id and our TTL is adopted (kept, and revoked like any other), so it is never left behind;
                // its deadline runs from our first send, before etcd started its TTL. Otherwise another lease has the
                // id (a 1 in 2^63 chance): not ours to revoke; pick another.
                long adoptedTtl = await TryAdoptRetriedGrantAsync(id, ttlSeconds, token).ConfigureAwait(false);
                if (adoptedTtl > 0)
                {
                    return _keeper.Register(id, adoptedTtl, sent, spare);
                }

                continue;
            }
            catch (Exception ex)
            {
                if (!EtcdErrors.IsDefiniteRefusal(ex))
                {
                    RevokeInBackground(fullKey, id, ttlSeconds, uncertainGrant: true);
                }

                throw;
            }

            if (!string.IsNullOrEmpty(granted.Error))
            {
                throw new EtcdLockUnavailableException(fullKey, $"etcd refused the lease for lock '{fullKey}': {granted.Error}", null, isTransient: false);
            }

            // The deadline is watched from the send time of the grant on, before anything else happens.
            return _keeper.Register(granted.ID, granted.TTL, sent, spare);
        }
    }

    /// <summary>
    /// Whether the lease <paramref name="id"/>, which etcd says exists, looks like our own retried grant: alive, with the
    /// TTL we asked for or the larger one etcd gives instead of a TTL below its minimum (1 s becomes 2 s).
    /// </summary>
    /// <returns>The TTL etcd granted it when it is adopted; 0 when it is not ours.</returns>
    private async Task<long> TryAdoptRetriedGrantAsync(long id, int ttlSeconds, CancellationToken token)
    {
        try
        {
            LeaseTimeToLiveResponse found = await _calls.Leases.LeaseTimeToLiveAsync(new LeaseTimeToLiveRequest { ID = id }, _calls.CallOptions(token)).ConfigureAwait(false);
            bool ours = found.TTL > 0 && (found.GrantedTTL == ttlSeconds || (ttlSeconds < found.GrantedTTL && found.GrantedTTL <= RaisedTtlBoundSeconds));
            return ours ? found.GrantedTTL : 0;
        }
        catch (Exception ex)
        {
            // Unknown: revoked in the background in case it is ours (as an uncertain grant), and the caller goes on
            // with a new id (or, cancelled, stops).
            RevokeInBackground("(retried lease grant)", id, ttlSeconds, uncertainGrant: true);
            if (ex is RpcException && !token.IsCancellationRequested)
            {
                return 0;
            }

            throw;
        }
    }

    public KeptLease? TryTakeSpare(int ttlSeconds) => _spares.TryTake(ttlSeconds);

    public void DisposeSpares() => _spares.Dispose();

    Task ILeaseGrants.SendRevokeAsync(long leaseId) =>
        _revokes.TryEnter(out Task turn) ? SendRevokeAsync(leaseId) : SendRevokeInTurnAsync(turn, leaseId);

    private async Task SendRevokeInTurnAsync(Task turn, long leaseId)
    {
        await turn.ConfigureAwait(false);
        await SendRevokeAsync(leaseId).ConfigureAwait(false);
    }

    public void RevokeEnded(string fullKey, long leaseId, int ttlSeconds, Exception? failure)
    {
        _revokes.Exit(); // the slot ILeaseGrants.SendRevokeAsync took
        if (failure is null || EtcdErrors.IsLeaseNotFound(failure))
        {
            // Revoked, or already expired or revoked: the key is gone either way.
            _work.EtcdAnswered();
            return;
        }

        // Retried behind the caller (counted in flight, so dispose waits for it) for up to TTL + 1 s.
        RevokeFailed(fullKey, leaseId, failure);
        RevokeInBackground(fullKey, leaseId, ttlSeconds, warned: true);
    }

    public async ValueTask<bool> RevokeQuietlyAsync(string fullKey, KeptLease lease)
    {
        lease.Retire();
        try
        {
            await SendRevokeInSlotAsync(lease.Id).ConfigureAwait(false);
            _work.EtcdAnswered();
            return true;
        }
        catch (Exception ex) when (EtcdErrors.IsLeaseNotFound(ex))
        {
            // Already expired or revoked: nothing left behind.
            _work.EtcdAnswered();
            return true;
        }
        catch (Exception ex)
        {
            RevokeFailed(fullKey, lease.Id, ex);
            return false;
        }
    }

    public void RevokeInBackground(string fullKey, long leaseId, int ttlSeconds, bool uncertainGrant = false, bool warned = false) =>
        _work.RunInBackground(() => RevokeLoopAsync(fullKey, leaseId, ttlSeconds, uncertainGrant, warned));

    public void RevokeWhenGrantedInBackground(string fullKey, Task<KeptLease> granting) =>
        _work.RunInBackground(async () =>
        {
            KeptLease lease;
            try
            {
                lease = await granting.ConfigureAwait(false);
            }
            catch (Exception)
            {
                return; // GrantAsync already revokes an id whose grant it could not confirm
            }

            lease.Retire();
            await RevokeLoopAsync(fullKey, lease.Id, (int)lease.TtlSeconds, uncertainGrant: false, warned: false).ConfigureAwait(false);
        });

    private async Task RevokeLoopAsync(string fullKey, long leaseId, int ttlSeconds, bool uncertainGrant, bool warned)
    {
        // In long: a TTL near int.MaxValue (68 years) must not wrap the give-up time into the past.
        long giveUp = Stopwatch.GetTimestamp() + (Math.Max(uncertainGrant ? 10L : 1L, ttlSeconds) + 1L) * Stopwatch.Frequency;
        bool notFoundOnce = false;
        int failures = warned ? 1 : 0;
        while (Stopwatch.GetTimestamp() < giveUp)
        {
            try
            {
                await SendRevokeInSlotAsync(leaseId).ConfigureAwait(false);
                _work.EtcdAnswered();
                return;
            }
            catch (Exception ex) when (EtcdErrors.IsLeaseNotFound(ex))
            {
                _work.EtcdAnswered();
                if (!uncertainGrant || notFoundOnce)
                {
                    return;
                }

                notFoundOnce = true;
                await Task.Delay(1000).ConfigureAwait(false);
                continue;
            }
            catch (ObjectDisposedException)
            {
                return;
            }
            catch (Exception ex)
            {
                if (uncertainGrant)
                {
                    // The grant never got an answer: most likely etcd never saw it, and the acquire or refill that sent
                    // it has already reported the failure. Revoked in case it committed, quietly.
                    Log.UncertainGrantRevokeFailed(_calls.Logger, fullKey, leaseId, ex.Message);
                }
                else if (failures++ == 0)
                {
                    // At most one warning per outage (see RevokeFailed); its retries (every 500 ms until TTL + 1 s) at Debug.
                    RevokeFailed(fullKey, leaseId, ex);
                }
                else
                {
                    Log.RevokeRetryFailed(_calls.Logger, fullKey, leaseId, ex.Message);
                }
            }

            await Task.Delay(500).ConfigureAwait(false);
        }
    }

    /// <summary>Revokes a lease within a slot of its own, freed when the request ends.</summary>
    private async Task SendRevokeInSlotAsync(long leaseId)
    {
        await _revokes.EnterAsync().ConfigureAwait(false);
        try
        {
            await SendRevokeAsync(leaseId).ConfigureAwait(false);
        }
        finally
        {
            _revokes.Exit();
        }
    }

    /// <summary>Revokes a lease (deleting its keys). Callers treat NotFound (already expired or revoked) as done.</summary>
    private Task<LeaseRevokeResponse> SendRevokeAsync(long leaseId) =>
        _calls.Leases.LeaseRevokeAsync(new LeaseRevokeRequest { ID = leaseId }, _calls.CallOptions()).ResponseAsync;

    /// <summary>
    /// A revoke of a lease whose grant was confirmed failed. An outage is warned about once, at its first failed revoke
    /// (the reason, no stack trace: it is a timeout or an unreachable endpoint, not a bug); further failures are logged at
    /// Debug until etcd answers again.
    /// </summary>
    private void RevokeFailed(string fullKey, long leaseId, Exception ex)
    {
        if (_work.FailureStartsOutage())
        {
            Log.RevokeFailed(_calls.Logger, fullKey, leaseId, ex.Message);
        }
        else
        {
            Log.RevokeRetryFailed(_calls.Logger, fullKey, leaseId, ex.Message);
        }
    }
}
