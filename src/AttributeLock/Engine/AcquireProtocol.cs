using System.Diagnostics;
using AttributeLock.Engine.Session;
using Etcdserverpb;
using Google.Protobuf;
using Grpc.Core;

namespace AttributeLock.Engine;

/// <summary>
/// The lock protocol of one acquire, step by step. Each step has one job and an explicit outcome:
/// <list type="number">
/// <item><see cref="EnterGateAsync"/>: queue behind callers of this process on the same key (only the next in line
/// grants a lease ahead of its turn).</item>
/// <item><see cref="EnsureLeaseAsync"/>: a lease that is still kept (pre-granted while queued, the provider's spare for
/// this TTL (<see cref="SpareLeases"/>), granted now, or re-granted after a loss).</item>
/// <item><see cref="TryTakeKeyAsync"/>: <c>Txn If(Version(key) == 0) Then(Put(key, holder, lease)) Else(Get(key))</c>,
/// recognising a retried transaction that had committed (our value and lease in the answer).</item>
/// <item><see cref="WaitForReleaseAsync"/>: when busy, a watch from the answer's revision + 1 until the key is deleted,
/// the watch breaks, or a periodic read shows another holder; then back to step 2.</item>
/// <item><see cref="EtcdLockProvider.TryRegisterHold"/>: the hold exists only if the lease is still kept, the caller has
/// not cancelled and the provider is not disposed; otherwise everything is undone.</item>
/// </list>
/// Whatever ends an acquire early (timeout, cancellation, dispose, an etcd error) undoes what it did: its leases are
/// revoked (which deletes the key if it was taken) and the local gate is passed on. No gRPC exception leaves here.
/// </summary>
internal sealed class AcquireProtocol
{
    private readonly EtcdLockProvider _provider;

    public AcquireProtocol(EtcdLockProvider provider) => _provider = provider;

    private enum TakeOutcome
    {
        Taken,
        Busy,
        LeaseGone,
    }

    public async ValueTask<LockHold?> AcquireAsync(AcquireRequest request, CancellationToken callerToken)
    {
        long start = Stopwatch.GetTimestamp();
        using Activity? activity = EtcdLockTelemetry.ActivitySource.StartActivity("AttributeLock.Acquire");
        activity?.SetTag("attributelock.key", request.FullKey);
        using var budget = new WaitBudget(request.Wait, callerToken, _provider.StopToken);
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
            (gate, pregrant) = await EnterGateAsync(request, budget.Token).ConfigureAwait(false);
            if (gate is null)
            {
                return Busy(request, _provider.HolderOfLocalGate(request.FullKey), start, activity);
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
                DateTime? deadline = waiting ? null : _provider.FirstAttemptDeadline();
                try
                {
                    step = "the lease grant";
                    (lease, pregrant) = await EnsureLeaseAsync(request, lease, pregrant, deadline, budget.Token).ConfigureAwait(false);
                    step = "the lock transaction";
                    (TakeOutcome outcome, long token, Mvccpb.KeyValue? current, long revision) = await TryTakeKeyAsync(request, lease, deadline, budget.Token).ConfigureAwait(false);
                    _provider.EtcdAnswered();
                    if (outcome == TakeOutcome.LeaseGone)
                    {
                        lease.MarkLost("the lease was not found by the lock transaction");
                        continue;
                    }

                    if (outcome == TakeOutcome.Busy)
                    {
                        holder = current?.Value.ToStringUtf8();
                        if (request.SingleAttempt)
                        {
                            return Busy(request, holder, start, activity);
                        }

                        if (current is not null)
                        {
                            Log.Waiting(_provider.Logger, request.FullKey, holder ?? "");
                            step = "the watch on the key";
                            waiting = true;
                            retries = 0;
                            lastFailure = null;
                            await WaitForReleaseAsync(request, revision, current.CreateRevision, budget.Token).ConfigureAwait(false);
                        }

                        continue;
                    }

                    // Taken. A caller who cancelled meanwhile gets OperationCanceledException, and the finally revokes.
                    callerToken.ThrowIfCancellationRequested();
                    hold = _provider.TryRegisterHold(request, lease, token, gate);
                    if (hold is null)
                    {
                        continue; // the lease was lost between the grant and now: revoke it and start over
                    }

                    double elapsedMs = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
                    _provider.Metrics.AcquireDuration.Record(elapsedMs);
                    activity?.SetTag("attributelock.fencing_token", token);
                    Log.Acquired(_provider.Logger, request.FullKey, lease.Id, token, elapsedMs);
                    return hold;
                }
                catch (Exception ex) when (waiting && !budget.Token.IsCancellationRequested && EtcdErrors.IsTransientFailure(ex))
                {
                    lastFailure = ex;
                    int delayMs = Math.Min(2000, 250 << Math.Min(retries++, 3));
                    Log.WaitRetrying(_provider.Logger, request.FullKey, step, ex.Message, delayMs);
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
                throw new ObjectDisposedException(nameof(EtcdLockProvider), "The lock provider was disposed while the lock was being acquired.");
            }

            if (budget.TimedOut && lastFailure is not null)
            {
                // The wait ended while etcd was failing: that, not a busy key, is what the caller needs to hear.
                etcdFailed = true;
                throw _provider.Unavailable(request.FullKey, step, lastFailure);
            }

            if (budget.TimedOut)
            {
                return Busy(request, holder ?? _provider.HolderOfLocalGate(request.FullKey), start, activity);
            }

            activity?.SetStatus(ActivityStatusCode.Error, ex.Message);
            if (ex is RpcException or OperationCanceledException)
            {
                etcdFailed = true;
                throw _provider.Unavailable(request.FullKey, step, ex);
            }

            throw;
        }
        finally
        {
            if (hold is null)
            {
                // Ended by cancellation, timeout, dispose or an etcd failure: the caller hears at once, the revokes go on
                // behind it (retried until done or the lease's TTL has passed).
                await UndoAsync(request.FullKey, lease, pregrant, gate, inBackground: etcdFailed || budget.Token.IsCancellationRequested).ConfigureAwait(false);
            }
        }
    }

    /// <summary>Step 1: the local gate, and a lease granted ahead of the turn when this caller is next in line.</summary>
    private async ValueTask<(LocalGates.Gate? Gate, Task<KeptLease>? Pregrant)> EnterGateAsync(AcquireRequest request, CancellationToken token)
    {
        LocalGates.Gate? gate = _provider.Gates.TryEnter(request.FullKey, request.SingleAttempt, token, out LocalGates.Waiter? waiter);
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

    /// <summary>Step 2: a kept lease, re-granted when the one we had was lost (it may have expired while we waited).</summary>
    private async ValueTask<(KeptLease Lease, Task<KeptLease>? Pregrant)> EnsureLeaseAsync(AcquireRequest request, KeptLease? lease, Task<KeptLease>? pregrant, DateTime? deadline, CancellationToken token)
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

            pregrant = null;
        }

        if (lease is not null && lease.State != LeaseState.Kept)
        {
            // A lost lease is revoked behind the caller: etcd may be what made it lost, and the caller goes on.
            lease.Retire();
            _provider.Grants.RevokeInBackground(request.FullKey, lease.Id, (int)lease.TtlSeconds);
            lease = null;
        }

        // A spare granted ahead of time when there is a usable one (this acquire alone gets it), else a grant now.
        return (lease ?? _provider.Grants.TryTakeSpare(request.TtlSeconds) ?? await GrantAsync(request, token, deadline).ConfigureAwait(false), pregrant);
    }

    private ValueTask<KeptLease> GrantAsync(AcquireRequest request, CancellationToken token, DateTime? deadline = null) =>
        _provider.Grants.GrantAsync(request.FullKey, request.TtlSeconds, spare: false, token, deadline);

    /// <summary>Step 3: the lock transaction.</summary>
    private async ValueTask<(TakeOutcome Outcome, long FencingToken, Mvccpb.KeyValue? Current, long Revision)> TryTakeKeyAsync(AcquireRequest request, KeptLease lease, DateTime? deadline, CancellationToken token)
    {
        TxnResponse answer;
        try
        {
            // Cancelled half-way, it may or may not have committed: the undo revokes the lease, which deletes the key.
            answer = await _provider.Kv.TxnAsync(LockTransaction(request.KeyBytes, _provider.HolderBytes, lease.Id), _provider.CallOptions(token, deadline)).ConfigureAwait(false);
        }
        catch (RpcException ex) when (EtcdErrors.IsLeaseNotFound(ex))
        {
            return (TakeOutcome.LeaseGone, 0, null, 0);
        }

        if (answer.Succeeded)
        {
            _provider.Metrics.CountTransaction("acquired");
            return (TakeOutcome.Taken, answer.Header.Revision, null, answer.Header.Revision);
        }

        Mvccpb.KeyValue? current = answer.Responses.Count > 0 ? answer.Responses[0].ResponseRange?.Kvs.FirstOrDefault() : null;
        if (current is not null && current.Lease == lease.Id && current.Value.Equals(_provider.HolderBytes))
        {
            // Our own put, committed by an earlier attempt whose answer was lost and that the client retried.
            Log.RecoveredRetriedTransaction(_provider.Logger, request.FullKey);
            _provider.Metrics.CountTransaction("recovered");
            return (TakeOutcome.Taken, current.CreateRevision, current, answer.Header.Revision);
        }

        _provider.Metrics.CountTransaction("busy");
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
    /// Step 4: waits until the key's holder may have changed: a DELETE event, the watch ending or failing, or a periodic
    /// read showing another create revision. Never waits on a broken watch. Cancellation of <paramref name="token"/>
    /// surfaces as an exception that <see cref="AcquireAsync"/> translates.
    /// </summary>
    private async Task WaitForReleaseAsync(AcquireRequest request, long revision, long createRevision, CancellationToken token)
    {
        long waitStart = Stopwatch.GetTimestamp();
        using var callCts = CancellationTokenSource.CreateLinkedTokenSource(token);
        // A read still pending when the wait ends (a periodic read decided, or the caller's token fired) faults once
        // the call is cancelled and disposed; it is observed below, so that it never becomes an unobserved exception.
        Task<bool>? next = null;
        try
        {
            using var call = _provider.Watches.Watch(cancellationToken: callCts.Token);
            await call.RequestStream.WriteAsync(new WatchRequest
            {
                CreateRequest = new WatchCreateRequest
                {
                    Key = request.KeyBytes,
                    StartRevision = revision + 1,
                    Filters = { WatchCreateRequest.Types.FilterType.Noput },
                },
            }, callCts.Token).ConfigureAwait(false);

            while (true)
            {
                next ??= call.ResponseStream.MoveNext(callCts.Token);
                Task finished = await Task.WhenAny(next, Task.Delay(_provider.Settings.WatchRecheckInterval, token)).ConfigureAwait(false);
                token.ThrowIfCancellationRequested();
                if (finished != next)
                {
                    if (!await StillHeldAsync(request.KeyBytes, createRevision).ConfigureAwait(false))
                    {
                        Log.WatchEnded(_provider.Logger, request.FullKey, "a periodic read found the holder changed");
                        return;
                    }

                    continue;
                }

                if (!await next.ConfigureAwait(false))
                {
                    Log.WatchEnded(_provider.Logger, request.FullKey, "the watch stream ended");
                    return;
                }

                next = null;
                WatchResponse response = call.ResponseStream.Current;
                if (response.Canceled)
                {
                    Log.WatchEnded(_provider.Logger, request.FullKey, $"etcd cancelled the watch: {response.CancelReason}");
                    return;
                }

                if (response.Events.Any(e => e.Type == Mvccpb.Event.Types.EventType.Delete))
                {
                    return;
                }
            }
        }
        catch (Exception ex) when (!token.IsCancellationRequested && ex is not OperationCanceledException)
        {
            Log.WatchEnded(_provider.Logger, request.FullKey, $"the watch failed: {ex.Message}");
        }
        finally
        {
            callCts.Cancel();
            next?.ContinueWith(static t => _ = t.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted | TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
            _provider.Metrics.WaitDuration.Record(Stopwatch.GetElapsedTime(waitStart).TotalMilliseconds);
        }
    }

    private async ValueTask<bool> StillHeldAsync(ByteString key, long createRevision)
    {
        try
        {
            RangeResponse range = await _provider.Kv.RangeAsync(new RangeRequest { Key = key }, _provider.CallOptions()).ConfigureAwait(false);
            return range.Kvs.Count == 1 && range.Kvs[0].CreateRevision == createRevision;
        }
        catch (Exception ex) when (ex is RpcException or OperationCanceledException)
        {
            return false;
        }
    }

    private LockHold? Busy(AcquireRequest request, string? holder, long start, Activity? activity)
    {
        TimeSpan waited = Stopwatch.GetElapsedTime(start);
        _provider.Metrics.Timeouts.Add(1);
        _provider.Metrics.AcquireDuration.Record(waited.TotalMilliseconds);
        activity?.SetTag("attributelock.busy", true);
        if (request.ThrowWhenBusy)
        {
            throw new EtcdLockTimeoutException(request.FullKey, holder ?? "another caller in this process", waited);
        }

        return null;
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
                    _provider.Grants.RevokeInBackground(fullKey, lease.Id, (int)lease.TtlSeconds);
                }
                else
                {
                    await _provider.Grants.RevokeQuietlyAsync(fullKey, lease).ConfigureAwait(false);
                }
            }

            if (pregrant is not null)
            {
                if (inBackground && !pregrant.IsCompleted)
                {
                    _provider.Grants.RevokeWhenGrantedInBackground(fullKey, pregrant);
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
                        await _provider.Grants.RevokeQuietlyAsync(fullKey, granted).ConfigureAwait(false);
                    }
                }
            }
        }
        finally
        {
            if (gate is not null)
            {
                _provider.Gates.Exit(fullKey, gate);
            }
        }
    }

    /// <summary>
    /// The token that ends a wait: the caller's, the provider's dispose, and the wait timeout (a timer only when the
    /// wait is finite and positive). Waits beyond what a timer can hold (about 49.7 days) count as unlimited.
    /// </summary>
    private sealed class WaitBudget : IDisposable
    {
        private static readonly TimeSpan s_maxTimer = TimeSpan.FromMilliseconds(uint.MaxValue - 2);
        private readonly CancellationToken _caller;
        private readonly CancellationToken _stop;
        private readonly CancellationTokenSource? _linked;
        private readonly bool _timed;

        public WaitBudget(TimeSpan wait, CancellationToken caller, CancellationToken stop)
        {
            _caller = caller;
            _stop = stop;
            _timed = wait > TimeSpan.Zero && wait <= s_maxTimer;
            _linked = _timed || caller.CanBeCanceled ? CancellationTokenSource.CreateLinkedTokenSource(caller, stop) : null;
            if (_timed)
            {
                _linked!.CancelAfter(wait);
            }

            Token = _linked?.Token ?? stop;
        }

        public CancellationToken Token { get; }

        public bool CallerCancelled => _caller.IsCancellationRequested;

        public bool ProviderStopped => _stop.IsCancellationRequested;

        public bool TimedOut => _timed && _linked!.IsCancellationRequested && !CallerCancelled && !ProviderStopped;

        public void Dispose() => _linked?.Dispose();
    }
}
