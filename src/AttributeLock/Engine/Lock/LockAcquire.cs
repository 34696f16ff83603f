using System.Diagnostics;
using AttributeLock.Engine.Session;
using Etcdserverpb;
using Google.Protobuf;
using Grpc.Core;

namespace AttributeLock.Engine.Lock;

/// <summary>
/// The lock protocol of one acquire, step by step. Each step has one job and an explicit outcome:
/// <list type="number">
/// <item><see cref="WaitWhileRenewalsLagAsync"/>: back-pressure; while one more lease would pass what the session can
/// renew, or its renewals lag, a new acquire waits for room, then is refused (the holds already taken come first).</item>
/// <item><see cref="EnterGateAsync"/>: queue behind callers of this process on the same key (only the next in line
/// grants a lease ahead of its turn). Outcome: the gate, or busy (a single attempt finds it taken).</item>
/// <item><see cref="EnsureLeaseAsync"/>: a lease that is still kept (pre-granted while queued, the session's spare for
/// this TTL, granted now, or re-granted after a loss).</item>
/// <item><see cref="SendLockTransaction"/> and <see cref="ReadLockTransaction"/>: <c>Txn If(Version(key) == 0) Then(Put(key, holder, lease)) Else(Get(key))</c>,
/// recognising a retried transaction that had committed (our value and lease in the answer). Outcome:
/// <see cref="TakeOutcome"/>.</item>
/// <item><see cref="LockWaitForRelease"/>: when busy, until the key's holder may have changed; then back to step 3.</item>
/// <item><see cref="TryRegisterHold"/>: the hold exists only if the lease is still kept, the caller has not cancelled
/// and the session is not disposed; otherwise everything is undone.</item>
/// </list>
/// Whatever ends an acquire early (timeout, cancellation, dispose, an etcd error) undoes what it did
/// (<see cref="UndoAsync"/>): its leases are revoked (which deletes the key if it was taken) and the local gate is
/// passed on. No gRPC exception leaves here.
/// </summary>
internal sealed class LockAcquire
{
    private readonly IEtcdCalls _calls;
    private readonly ILeaseGrants _grants;
    private readonly ISessionWork _work;
    private readonly LocalGates _gates;
    private readonly LeaseKeeper _keeper;
    private readonly ILockHoldHost _holds;
    private readonly LockWaitForRelease _waitForRelease;
    private readonly EngineSettings _settings;

    public LockAcquire(IEtcdCalls calls, ILeaseGrants grants, ISessionWork work, LocalGates gates, LeaseKeeper keeper, ILockHoldHost holds, EngineSettings settings)
    {
        _calls = calls;
        _grants = grants;
        _work = work;
        _gates = gates;
        _keeper = keeper;
        _holds = holds;
        _settings = settings;
        _waitForRelease = new LockWaitForRelease(calls, settings.WatchRecheckInterval);
    }

    /// <summary>What the lock transaction found.</summary>
    private enum TakeOutcome
    {
        /// <summary>The key is ours: created now, or by an earlier attempt whose answer was lost.</summary>
        Taken,

        /// <summary>Another holder has the key.</summary>
        Busy,

        /// <summary>etcd no longer knows the lease: it is replaced and the transaction tried again.</summary>
        LeaseGone,
    }

    /// <summary>
    /// Runs one acquire for a caller that has counted it in flight already (<see cref="ISessionWork.TryBegin"/>, which
    /// refuses once dispose began); the count ends here, after the hold was registered or everything the acquire did was
    /// undone. <paramref name="outcome"/> makes the caller's result (the façade's handle, a wrapper's scope) from the
    /// registered hold inside this state machine: the caller needs no async layer of its own (one state machine per
    /// call, not two).
    /// </summary>
    /// <returns>The wrapped hold; <see cref="IAcquireOutcome{TResult}.Busy"/> when the key stayed busy and the request does not throw for that.</returns>
    public async ValueTask<TResult?> AcquireAsync<TResult>(AcquireRequest request, CancellationToken callerToken, IAcquireOutcome<TResult> outcome)
        where TResult : class
    {
        try
        {
            long start = Stopwatch.GetTimestamp();
            using Activity? activity = EtcdLockTelemetry.ActivitySource.StartActivity("AttributeLock.Acquire");
            activity?.SetTag("attributelock.key", request.FullKey);
            using var budget = new WaitBudget(request.Wait, callerToken, _calls.StopToken);
            LocalGates.Gate? gate = null;
            KeptLease? lease = null;
            Task<KeptLease>? pregrant = null;
            string? holder = null;
            LockHold? hold = null;
            string step = "the local queue";
            Exception? lastFailure = null; // the transient failure of the last round, while riding out an outage
            bool etcdFailed = false; // the acquire ends on an etcd failure: its undo must not wait for etcd either
            try
            {
                await WaitWhileRenewalsLagAsync(request, budget).ConfigureAwait(false);
                (gate, pregrant) = await EnterGateAsync(request, budget.Token).ConfigureAwait(false);
                if (gate is null)
                {
                    return Busy(outcome, request, _gates.HolderOf(request.FullKey), start, activity);
                }

                // A caller that has reached etcd and is waiting its turn rides out transient etcd failures (a restart, a
                // leader election, a cut connection) while its wait lasts, as Go's concurrency.Mutex does: the next round
                // starts from the transaction again, which also recognises a put of ours whose answer was lost, and a lease
                // lost meanwhile is revoked and replaced. Before the first answer, a failure ends the acquire at once.
                bool waiting = false;
                int retries = 0;
                while (true)
                {
                    budget.Token.ThrowIfCancellationRequested();
                    // Until etcd has answered once, a round's grant and transaction share one request timeout, so that a
                    // caller meeting an outage hears within ConnectTimeout, not once per request.
                    // default: none (a DateTime? would make this state machine 8 bytes larger)
                    DateTime deadline = waiting ? default : _calls.FirstAttemptDeadline();
                    try
                    {
                        step = "the lease grant";
                        bool takesPregrant = lease is null; // then EnsureLeaseAsync uses up the pre-grant, if any
                        lease = await EnsureLeaseAsync(request, lease, pregrant, Deadline(deadline), budget.Token).ConfigureAwait(false);
                        if (takesPregrant)
                        {
                            pregrant = null;
                        }

                        step = "the lock transaction";
                        TxnResponse? answer;
                        try
                        {
                            // Cancelled half-way, it may or may not have committed: the undo revokes the lease, which deletes the key.
                            answer = await SendLockTransaction(request, lease, Deadline(deadline), budget.Token).ConfigureAwait(false);
                        }
                        catch (RpcException ex) when (EtcdErrors.IsLeaseNotFound(ex))
                        {
                            answer = null;
                        }

                        (TakeOutcome taken, long token, Mvccpb.KeyValue? current, long revision) = ReadLockTransaction(request, lease, answer);
                        _work.EtcdAnswered();
                        if (taken == TakeOutcome.LeaseGone)
                        {
                            lease.MarkLost("the lease was not found by the lock transaction");
                            continue;
                        }

                        if (taken == TakeOutcome.Busy)
                        {
                            holder = current?.Value.ToStringUtf8();
                            if (request.SingleAttempt)
                            {
                                return Busy(outcome, request, holder, start, activity);
                            }

                            if (current is not null)
                            {
                                Log.Waiting(_calls.Logger, request.FullKey, holder ?? "");
                                step = "the watch on the key";
                                waiting = true;
                                retries = 0;
                                lastFailure = null;
                                await _waitForRelease.WaitAsync(request.FullKey, request.KeyBytes, revision, current.CreateRevision, budget.Token).ConfigureAwait(false);
                            }

                            continue;
                        }

                        // Taken. A caller who cancelled meanwhile gets OperationCanceledException, and the finally revokes.
                        callerToken.ThrowIfCancellationRequested();
                        hold = TryRegisterHold(request, lease, token, gate);
                        if (hold is null)
                        {
                            continue; // the lease was lost between the grant and now: revoke it and start over
                        }

                        double elapsedMs = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
                        _calls.Metrics.AcquireDuration.Record(elapsedMs);
                        activity?.SetTag("attributelock.fencing_token", token);
                        Log.Acquired(_calls.Logger, request.FullKey, lease.Id, token, elapsedMs);
                        hold.HoldAtLeast(request.HoldAtLeast);
                        return outcome.Acquired(hold, callerToken);
                    }
                    catch (Exception ex) when (waiting && !budget.Token.IsCancellationRequested && EtcdErrors.IsTransientFailure(ex))
                    {
                        lastFailure = ex;
                        int delayMs = Math.Min(2000, 250 << Math.Min(retries++, 3));
                        Log.WaitRetrying(_calls.Logger, request.FullKey, step, ex.Message, delayMs);
                        await Task.Delay(delayMs, budget.Token).ConfigureAwait(false);
                    }
                }
            }
            catch (Exception ex) when (ex is not (EtcdLockTimeoutException or EtcdLockUnavailableException or ObjectDisposedException) || budget.CallerCancelled)
            {
                // Which token ended the wait decides what the caller sees; nothing of gRPC leaks.
                if (budget.CallerCancelled)
                {
                    throw new OperationCanceledException("The lock acquisition was cancelled.", ex, callerToken);
                }

                if (budget.ProviderStopped)
                {
                    throw new ObjectDisposedException(_settings.OwnerName, "The lock provider was disposed while the lock was being acquired.");
                }

                if (budget.TimedOut && lastFailure is not null)
                {
                    // The wait ended while etcd was failing: that, not a busy key, is what the caller needs to hear.
                    etcdFailed = true;
                    throw _calls.Unavailable(request.FullKey, step, lastFailure);
                }

                if (budget.TimedOut)
                {
                    return Busy(outcome, request, holder ?? _gates.HolderOf(request.FullKey), start, activity);
                }

                activity?.SetStatus(ActivityStatusCode.Error, ex.Message);
                if (ex is RpcException or OperationCanceledException)
                {
                    etcdFailed = true;
                    throw _calls.Unavailable(request.FullKey, step, ex);
                }

                throw;
            }
            finally
            {
                if (hold is null)
                {
                    outcome.NotAcquired();

                    // Ended by cancellation, timeout, dispose or an etcd failure: the caller hears at once, the revokes go on
                    // behind it (retried until done or the lease's TTL has passed).
                    await UndoAsync(request.FullKey, lease, pregrant, gate, inBackground: etcdFailed || budget.Token.IsCancellationRequested).ConfigureAwait(false);
                }
            }
        }
        finally
        {
            _work.End(); // counted in flight by the caller
        }
    }

    /// <summary>
    /// Step 1, back-pressure, for two reasons. Capacity: one more lease would make the renewals the session's kept leases
    /// need per second pass <see cref="LeaseKeeper.CapacityShare"/> of what its keep-alive stream was measured to carry
    /// (<see cref="LeaseKeeper.RoomFor"/>); this must be judged on admission, since a new lease needs no renewal for a
    /// third of its TTL and lag would show only after far too many were taken. Lag: the renewals are
    /// <see cref="LeaseKeeper.RenewalLagLimit"/> or more behind anyway (etcd answering slowly). Either way a new acquire
    /// waits for room, at most one request timeout (or what is left of its wait), then is refused with the reason:
    /// taking more holds would push every hold already taken past its deadline at once. The wait ends with the caller's
    /// cancellation and the provider's dispose like every other step (the caller hears the same exceptions).
    /// </summary>
    /// <exception cref="EtcdLockUnavailableException">No room was made in time (transient).</exception>
    internal async ValueTask WaitWhileRenewalsLagAsync(AcquireRequest request, WaitBudget budget)
    {
        if (HasRoom(request.TtlSeconds))
        {
            return;
        }

        // Leases not renewed yet are renewed within a third of their TTL, which proves them and makes room: a wait for
        // that may last one renewal interval more than a request timeout (5 s for the default TTL of 15 s).
        long started = Stopwatch.GetTimestamp();
        TimeSpan patience = _settings.RequestTimeout + TimeSpan.FromSeconds(KeptLease.RenewIntervalFor(request.TtlSeconds) / (double)Stopwatch.Frequency);
        while (Stopwatch.GetElapsedTime(started) < (_keeper.RoomFor(request.TtlSeconds) == LeaseKeeper.Room.Unproven ? patience : _settings.RequestTimeout) && !budget.TimedOut)
        {
            try
            {
                await Task.Delay(50, budget.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (budget.TimedOut)
            {
                break; // the wait timeout ended it: the caller hears why it was not tried, not that the key was busy
            }

            if (HasRoom(request.TtlSeconds))
            {
                return;
            }
        }

        LeaseKeeper.Room room = _keeper.RoomFor(request.TtlSeconds);
        if (room == LeaseKeeper.Room.Yes && !budget.TimedOut)
        {
            return; // room was made just as the wait ended
        }

        string why = room switch
        {
            LeaseKeeper.Room.Capacity =>
                $"the {_keeper.Count} leases this provider keeps need {_keeper.RenewalDemand():0} renewals per second, and it was measured to carry about " +
                $"{_keeper.RenewalCapacity() ?? 0:0} (new leases are taken up to {LeaseKeeper.CapacityShare:P0} of that)",
            LeaseKeeper.Room.Pressure =>
                $"the renewals of the {_keeper.Count} leases this provider keeps ({_keeper.RenewalDemand():0} per second) fell behind within the last 10 s",
            LeaseKeeper.Room.Unproven =>
                $"leases granted in the last third of their TTL, not renewed yet, already add {_keeper.UnprovenDemand():0} renewals per second to the {_keeper.RenewalDemand():0} needed, " +
                "and new leases are taken only as fast as the renewals they need are shown to be carried",
            LeaseKeeper.Room.Lag => $"the renewals of the {_keeper.Count} leases this provider keeps are {_keeper.RenewalLag().TotalMilliseconds:0} ms behind (more than {LeaseKeeper.RenewalLagLimit.TotalMilliseconds:0} ms)",
            _ => $"its wait ended while new leases were held back for the {_keeper.Count} leases this provider keeps",
        };
        throw new EtcdLockUnavailableException(request.FullKey,
            $"Lock '{request.FullKey}' was not tried: {why}, for {Stopwatch.GetElapsedTime(started).TotalSeconds:0.#} s; new acquires are refused until there is room rather than push the holds already taken past their deadlines. " +
            "This process holds more locks than it or etcd can renew (longer TTLs need fewer renewals), or etcd answers slowly; see the attributelock.renewal.* metrics.",
            null, isTransient: true);
    }

    private bool HasRoom(int ttlSeconds) => _keeper.RoomFor(ttlSeconds) == LeaseKeeper.Room.Yes;

    /// <summary>Step 2: the local gate, and a lease granted ahead of the turn when this caller is next in line.</summary>
    private async ValueTask<(LocalGates.Gate? Gate, Task<KeptLease>? Pregrant)> EnterGateAsync(AcquireRequest request, CancellationToken token)
    {
        LocalGates.Gate? gate = _gates.TryEnter(request.FullKey, request.SingleAttempt, token, out LocalGates.Waiter? waiter);
        if (waiter is null)
        {
            return (gate, null);
        }

        Task<KeptLease>? pregrant = null;
        try
        {
            await Task.WhenAny(waiter.Granted.Task, waiter.NextUp.Task).ConfigureAwait(false);
            if (!waiter.Granted.Task.IsCompleted)
            {
                // Next in line: grant now, so the hand-off costs the holder's revoke and our transaction only.
                pregrant = GrantAsync(request, token).AsTask();
            }

            return (await waiter.Granted.Task.ConfigureAwait(false), pregrant);
        }
        catch
        {
            await UndoAsync(request.FullKey, null, pregrant, null, inBackground: true).ConfigureAwait(false);
            throw;
        }
        finally
        {
            waiter.Registration.Dispose();
        }
    }

    private static DateTime? Deadline(DateTime deadline) => deadline == default ? null : deadline;

    /// <summary>
    /// Step 3: a kept lease, re-granted when the one we had was lost (it may have expired while we waited). When
    /// <paramref name="lease"/> is null, <paramref name="pregrant"/> (if any) is used up: awaited, and revoked or kept.
    /// </summary>
    private async ValueTask<KeptLease> EnsureLeaseAsync(AcquireRequest request, KeptLease? lease, Task<KeptLease>? pregrant, DateTime? deadline, CancellationToken token)
    {
        if (lease is null && pregrant is not null)
        {
            try
            {
                lease = await pregrant.ConfigureAwait(false);
            }
            catch (Exception) when (!token.IsCancellationRequested)
            {
                // The grant made ahead of our turn failed (etcd may be fine again now): grant now instead.
                lease = null;
            }
        }

        if (lease is not null && lease.State != LeaseState.Kept)
        {
            // A lost lease is revoked behind the caller: etcd may be what made it lost, and the caller goes on.
            lease.Retire();
            _grants.RevokeInBackground(request.FullKey, lease.Id, (int)lease.TtlSeconds);
            lease = null;
        }

        // A spare granted ahead of time when there is a usable one (this acquire alone gets it), else a grant now.
        return lease ?? _grants.TryTakeSpare(request.TtlSeconds) ?? await GrantAsync(request, token, deadline).ConfigureAwait(false);
    }

    private ValueTask<KeptLease> GrantAsync(AcquireRequest request, CancellationToken token, DateTime? deadline = null) =>
        _grants.GrantAsync(request.FullKey, request.TtlSeconds, spare: false, token, deadline);

    /// <summary>Step 4: the lock transaction.</summary>
    private Task<TxnResponse> SendLockTransaction(AcquireRequest request, KeptLease lease, DateTime? deadline, CancellationToken token) =>
        _calls.Kv.TxnAsync(LockTransaction(request.KeyBytes, _calls.HolderBytes, lease.Id), _calls.CallOptions(token, deadline)).ResponseAsync;

    /// <summary>What the lock transaction's answer says; <paramref name="answer"/> is null when etcd did not know the lease.</summary>
    private (TakeOutcome Outcome, long FencingToken, Mvccpb.KeyValue? Current, long Revision) ReadLockTransaction(AcquireRequest request, KeptLease lease, TxnResponse? answer)
    {
        if (answer is null)
        {
            return (TakeOutcome.LeaseGone, 0, null, 0);
        }

        if (answer.Succeeded)
        {
            _calls.Metrics.CountTransaction("acquired");
            return (TakeOutcome.Taken, answer.Header.Revision, null, answer.Header.Revision);
        }

        Mvccpb.KeyValue? current = answer.Responses.Count > 0 ? answer.Responses[0].ResponseRange?.Kvs.FirstOrDefault() : null;
        if (current is not null && current.Lease == lease.Id && current.Value.Equals(_calls.HolderBytes))
        {
            // Our own put, committed by an earlier attempt whose answer was lost and that the client retried.
            Log.RecoveredRetriedTransaction(_calls.Logger, request.FullKey);
            _calls.Metrics.CountTransaction("recovered");
            return (TakeOutcome.Taken, current.CreateRevision, current, answer.Header.Revision);
        }

        _calls.Metrics.CountTransaction("busy");
        return (TakeOutcome.Busy, 0, current, answer.Header.Revision);
    }

    internal static TxnRequest LockTransaction(ByteString key, ByteString value, long leaseId)
    {
        var txn = new TxnRequest();
        txn.Compare.Add(new Compare
        {
            Key = key,
            Target = Compare.Types.CompareTarget.Version,
            Result = Compare.Types.CompareResult.Equal,
            Version = 0,
        });
        txn.Success.Add(new RequestOp { RequestPut = new PutRequest { Key = key, Value = value, Lease = leaseId } });
        txn.Failure.Add(new RequestOp { RequestRange = new RangeRequest { Key = key } });
        return txn;
    }

    /// <summary>
    /// Step 6: the key is ours in etcd; it becomes a hold only if the lease is still kept and the session is not
    /// disposed (checked under the lock that dispose takes, so no hold escapes dispose's sweep).
    /// </summary>
    /// <returns>The hold, or null when the lease was lost meanwhile (the caller revokes it and starts over).</returns>
    /// <exception cref="ObjectDisposedException">Dispose began.</exception>
    private LockHold? TryRegisterHold(AcquireRequest request, KeptLease lease, long fencingToken, LocalGates.Gate gate)
    {
        Invariant.Require(_gates.IsHeldByAcquire(request.FullKey, gate), "an acquire registers its hold while it holds its key's local gate, which carries no other hold");
        var hold = new LockHold(_holds, request.FullKey, request.KeyBytes, lease, fencingToken, gate);
        return _work.TryRegister(hold, lease) ? hold : null;
    }

    private TResult? Busy<TResult>(IAcquireOutcome<TResult> outcome, AcquireRequest request, string? holder, long start, Activity? activity)
        where TResult : class
    {
        TimeSpan waited = Stopwatch.GetElapsedTime(start);
        _calls.Metrics.Timeouts.Add(1);
        _calls.Metrics.AcquireDuration.Record(waited.TotalMilliseconds);
        activity?.SetTag("attributelock.busy", true);
        if (request.ThrowWhenBusy)
        {
            throw new EtcdLockTimeoutException(request.FullKey, holder ?? "another caller in this process", waited);
        }

        return outcome.Busy();
    }

    /// <summary>
    /// Undoes a failed acquire: revokes its leases (deleting the key if it was taken) and passes the gate on. In the
    /// background (retried until done or the lease's TTL passed) when the caller must not wait for etcd.
    /// </summary>
    private async ValueTask UndoAsync(string fullKey, KeptLease? lease, Task<KeptLease>? pregrant, LocalGates.Gate? gate, bool inBackground)
    {
        try
        {
            if (lease is not null)
            {
                if (inBackground)
                {
                    lease.Retire();
                    _grants.RevokeInBackground(fullKey, lease.Id, (int)lease.TtlSeconds);
                }
                else
                {
                    await _grants.RevokeQuietlyAsync(fullKey, lease).ConfigureAwait(false);
                }
            }

            if (pregrant is not null)
            {
                if (inBackground && !pregrant.IsCompleted)
                {
                    _grants.RevokeWhenGrantedInBackground(fullKey, pregrant);
                }
                else
                {
                    KeptLease? granted = null;
                    try
                    {
                        granted = await pregrant.ConfigureAwait(false);
                    }
                    catch (Exception)
                    {
                        // The grant failed: GrantAsync already revokes an id whose grant it could not confirm.
                    }

                    if (granted is not null)
                    {
                        await _grants.RevokeQuietlyAsync(fullKey, granted).ConfigureAwait(false);
                    }
                }
            }
        }
        finally
        {
            if (gate is not null)
            {
                _gates.Exit(fullKey, gate);
            }
        }
    }
}
