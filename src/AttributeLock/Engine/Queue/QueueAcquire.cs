using System.Diagnostics;
using AttributeLock.Engine.Lock;
using AttributeLock.Engine.Session;
using Etcdserverpb;
using Google.Protobuf;
using Grpc.Core;

namespace AttributeLock.Engine.Queue;

/// <summary>
/// The acquire of a queue primitive (semaphore ticket, reader, writer, election candidate), as Go's
/// <c>concurrency.Election</c> and <c>recipes.RWMutex</c> do it:
/// <list type="number">
/// <item>A lease of its own (a spare, or granted now), and a ticket key named after it (<see cref="QueueRequest"/>).</item>
/// <item><c>Txn If(CreateRevision(ticket) == 0) Then(Put(ticket, value, lease), Range(blockers)) Else(Get(ticket))</c>:
/// the ticket's create revision places it in the queue; the blockers read in the same transaction decide at once in
/// the common case (one round trip, as the lock's). A retried transaction that had committed is recognised by the
/// ticket's lease and value.</item>
/// <item>Not admitted: wait until a blocker may have gone (<see cref="QueueWait"/>), then read again — the ticket must
/// still be there with its create revision, and the older blockers are counted again. A watch alone never admits.</item>
/// <item>Admitted: the ticket becomes a <see cref="LockHold"/> (kept, watched, guarded writes, released by revoking its
/// lease), exactly as a lock's key does.</item>
/// </list>
/// Invariants: a ticket is admitted only by a read of etcd made after its put (in the same transaction or later), in
/// which fewer than <see cref="QueueRequest.Admits"/> blockers older than it exist; blockers older than a ticket never
/// come back (create revisions only grow), so an admitted ticket stays admitted while it exists. At most
/// <c>MaxCount</c> semaphore tickets are admitted at once only if every caller uses the same <c>MaxCount</c>: a ticket
/// that meets an older one carrying another value fails its acquire (it saw every older ticket when it could be admitted).
/// A lost lease or a ticket deleted while waiting starts over with a new lease and a new ticket (at the end of the queue).
/// Whatever ends an acquire early revokes its lease, which deletes its ticket.
/// </summary>
internal sealed class QueueAcquire
{
    private readonly IEtcdCalls _calls;
    private readonly ILeaseGrants _grants;
    private readonly ISessionWork _work;
    private readonly LocalGates _gates;
    private readonly ILockHoldHost _holds;
    private readonly LockAcquire _lockAcquire;
    private readonly QueueWait _wait;
    private readonly EngineSettings _settings;
    private readonly LocalPlaces _places = new();
    // Names this session's tickets: 12 hex digits of a hash of the holder id (host, process id, provider id).
    private readonly string _session;

    public QueueAcquire(IEtcdCalls calls, ILeaseGrants grants, ISessionWork work, LocalGates gates, ILockHoldHost holds, LockAcquire lockAcquire, EngineSettings settings)
    {
        _calls = calls;
        _grants = grants;
        _work = work;
        _gates = gates;
        _holds = holds;
        _lockAcquire = lockAcquire;
        _settings = settings;
        _wait = new QueueWait(calls, settings.WatchRecheckInterval);
        _session = Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(calls.HolderId)), 0, 6).ToLowerInvariant();
    }

    /// <summary>
    /// What a read of the queue found: whether etcd admits the ticket, how many blockers are older (a semaphore's count
    /// is exact when <paramref name="Exact"/>, otherwise "MaxCount or more"), the one to wait on, the older tickets
    /// returned (a semaphore's), and the revision read at.
    /// </summary>
    private readonly record struct Standing(bool Admitted, int Older, bool Exact, Mvccpb.KeyValue? WaitOn, IReadOnlyList<Mvccpb.KeyValue> OlderKvs, long Revision);

    /// <summary>Runs one acquire counted in flight by the caller (<see cref="ISessionWork.TryBegin"/>); the count ends here.</summary>
    /// <returns>The hold; null when it stayed busy and the request does not throw for that.</returns>
    public async ValueTask<LockHold?> AcquireAsync(QueueRequest queue, CancellationToken callerToken)
    {
        try
        {
            AcquireRequest request = queue.Request;
            long start = Stopwatch.GetTimestamp();
            using Activity? activity = EtcdLockTelemetry.ActivitySource.StartActivity("AttributeLock.Acquire");
            activity?.SetTag("attributelock.key", request.FullKey);
            using var budget = new WaitBudget(request.Wait, callerToken, _calls.StopToken);
            KeptLease? lease = null;
            LocalGates.Gate? gate = null;
            string? ticketKey = null;
            int slot = -1;
            ByteString? ticketBytes = null;
            long ticketRevision = 0;
            string? holder = null;
            LockHold? hold = null;
            string step = "the lease grant";
            Exception? lastFailure = null;
            bool etcdFailed = false;
            LocalPlaces.Family family = _places.Join(queue.FamilyKey);
            // A semaphore's exact count of older tickets and the revision it holds at: a later read returns at most
            // MaxCount of them, so the count is kept from the last exact one and its waits count the deletes since
            // then (a base moved to a later inexact read would miss the deletes in between and wait too long).
            int baseOlder = 0;
            long baseRevision = 0;
            QueueWait.Wake lastWake = QueueWait.Wake.Timeout;
            try
            {
                await _lockAcquire.WaitWhileRenewalsLagAsync(request, budget).ConfigureAwait(false);
                bool waiting = false;
                int retries = 0;
                while (true)
                {
                    budget.Token.ThrowIfCancellationRequested();
                    DateTime deadline = waiting ? default : _calls.FirstAttemptDeadline();
                    try
                    {
                        if (lease is not null && lease.State != LeaseState.Kept)
                        {
                            // The lease ended while we waited, and the ticket with it: start over at the end of the queue.
                            Drop(ref lease, ref gate, ticketKey); // its slot is not used again: the ticket may linger
                            ticketRevision = 0;
                            slot = -1;
                        }

                        if (lease is null)
                        {
                            step = "the lease grant";
                            lease = _grants.TryTakeSpare(request.TtlSeconds)
                                ?? await _grants.GrantAsync(request.FullKey, request.TtlSeconds, spare: false, budget.Token, Deadline(deadline)).ConfigureAwait(false);
                            slot = _places.TakeSlot(family);
                            ticketKey = queue.TicketKey(_session, slot);
                            ticketBytes = ByteString.CopyFromUtf8(ticketKey);
                            gate = _gates.TryEnter(ticketKey, singleAttempt: true, CancellationToken.None, out _);
                            Invariant.Require(gate is not null, "a ticket's key is named after a slot no live ticket of this process has: its local gate is free");
                        }

                        Standing standing;
                        if (ticketRevision == 0)
                        {
                            step = "the queue transaction";
                            TxnResponse answer;
                            try
                            {
                                answer = await _calls.Kv.TxnAsync(PutTicket(queue, ticketBytes!, lease.Id), _calls.CallOptions(budget.Token, Deadline(deadline))).ResponseAsync.ConfigureAwait(false);
                            }
                            catch (RpcException ex) when (EtcdErrors.IsLeaseNotFound(ex))
                            {
                                lease.MarkLost("the lease was not found by the queue transaction");
                                continue;
                            }

                            _work.EtcdAnswered();
                            if (answer.Succeeded)
                            {
                                ticketRevision = answer.Header.Revision;
                                standing = Judge(queue, answer.Responses[1].ResponseRange, ticketBytes!, answer.Header.Revision, inPut: true);
                            }
                            else
                            {
                                Mvccpb.KeyValue? mine = answer.Responses[0].ResponseRange.Kvs.FirstOrDefault();
                                if (mine is null || mine.Lease != lease.Id || !mine.Value.Equals(queue.Value))
                                {
                                    lease.MarkLost("the ticket's key was taken by another lease");
                                    continue;
                                }

                                // Our own put, committed by an earlier attempt whose answer was lost and that the client retried.
                                Log.RecoveredRetriedTransaction(_calls.Logger, ticketKey!);
                                _calls.Metrics.CountTransaction("recovered");
                                ticketRevision = mine.CreateRevision;
                                Standing? read = await ReadStandingAsync(queue, ticketBytes!, ticketRevision, budget.Token, countAll: queue.Kind == QueueKind.Semaphore).ConfigureAwait(false);
                                if (read is null)
                                {
                                    lease.MarkLost("the ticket's key was deleted right after it was put");
                                    continue;
                                }

                                standing = read.Value;
                            }
                        }
                        else
                        {
                            step = "the queue read";
                            Standing? reread = await ReadStandingAsync(queue, ticketBytes!, ticketRevision, budget.Token).ConfigureAwait(false);
                            if (reread is { Admitted: false, Exact: false } && lastWake is QueueWait.Wake.Count or QueueWait.Wake.Unknown)
                            {
                                // The deletes counted since the base said our turn may have come, or cannot be counted
                                // (compacted, or older than the shared watch keeps): count the older tickets anew.
                                reread = await ReadStandingAsync(queue, ticketBytes!, ticketRevision, budget.Token, countAll: true).ConfigureAwait(false);
                            }

                            _work.EtcdAnswered();
                            if (reread is null)
                            {
                                lease.MarkLost("the ticket's key was deleted while it waited");
                                continue;
                            }

                            standing = reread.Value;
                        }

                        if (standing.Exact)
                        {
                            baseOlder = standing.Older;
                            baseRevision = standing.Revision;
                        }

                        Invariant.Require(queue.Kind != QueueKind.Semaphore || baseRevision > 0, "a semaphore's wait counts from an exact read (the put's, or one that counted every older ticket)");

                        Task? localTurn = standing.Admitted ? _places.Blocked(family, queue, standing.OlderKvs) : null;
                        if (localTurn is not null)
                        {
                            // etcd admits the ticket, but a hold of this process whose ticket was lost still runs (it
                            // keeps its place until released, as a lock's local gate does): wait for it, then read again.
                            if (request.SingleAttempt)
                            {
                                return Busy(request, _holds.LocalHolder, start, activity);
                            }

                            step = "the wait for a hold of this process";
                            waiting = true;
                            await localTurn.WaitAsync(_settings.WatchRecheckInterval, budget.Token).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
                            continue;
                        }

                        if (standing.Admitted)
                        {
                            _calls.Metrics.CountTransaction("acquired");
                            callerToken.ThrowIfCancellationRequested();
                            // Assigned to `hold` only once registered: a registration refused by dispose (it throws)
                            // leaves `hold` null, so the finally revokes the lease.
                            var admitted = new LockHold(_holds, ticketKey!, ticketBytes!, lease, ticketRevision, gate!);
                            if (!_work.TryRegister(admitted, lease))
                            {
                                continue; // the lease was lost between the grant and now: revoke it and start over
                            }

                            hold = admitted;
                            hold.Slot = slot;
                            _places.Occupy(family, hold, queue.Kind); // the place is the hold's now, until its release ends

                            double elapsedMs = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
                            _calls.Metrics.AcquireDuration.Record(elapsedMs);
                            activity?.SetTag("attributelock.fencing_token", ticketRevision);
                            Log.Acquired(_calls.Logger, ticketKey!, lease.Id, ticketRevision, elapsedMs);
                            return hold;
                        }

                        _calls.Metrics.CountTransaction("busy");
                        holder = standing.WaitOn is { } blocker ? QueueRequest.HolderOf(blocker.Value) : holder;
                        if (request.SingleAttempt)
                        {
                            return Busy(request, holder, start, activity);
                        }

                        Log.Waiting(_calls.Logger, request.FullKey, holder ?? "");
                        step = "the watch on the queue";
                        waiting = true;
                        retries = 0;
                        lastFailure = null;
                        lastWake = queue.Kind == QueueKind.Semaphore
                            ? await _wait.WaitAsync(queue, family, standing.WaitOn, baseOlder, ticketRevision, baseRevision, budget.Token).ConfigureAwait(false)
                            : await _wait.WaitAsync(queue, family, standing.WaitOn, standing.Older, ticketRevision, standing.Revision, budget.Token).ConfigureAwait(false);
                    }
                    catch (Exception ex) when (waiting && !budget.Token.IsCancellationRequested && EtcdErrors.IsTransientFailure(ex))
                    {
                        lastFailure = ex;
                        lastWake = QueueWait.Wake.Timeout; // a failed read is tried again as a plain one
                        int delayMs = Math.Min(2000, 250 << Math.Min(retries++, 3));
                        Log.WaitRetrying(_calls.Logger, request.FullKey, step, ex.Message, delayMs);
                        await Task.Delay(delayMs, budget.Token).ConfigureAwait(false);
                    }
                }
            }
            catch (Exception ex) when (ex is not (EtcdLockTimeoutException or EtcdLockUnavailableException or ObjectDisposedException) || budget.CallerCancelled)
            {
                if (budget.CallerCancelled)
                {
                    throw new OperationCanceledException("The acquisition was cancelled.", ex, callerToken);
                }

                if (budget.ProviderStopped)
                {
                    throw new ObjectDisposedException(_settings.OwnerName, "The lock provider was disposed while the acquisition waited.");
                }

                if (budget.TimedOut && lastFailure is not null)
                {
                    etcdFailed = true;
                    throw _calls.Unavailable(request.FullKey, step, lastFailure);
                }

                if (budget.TimedOut)
                {
                    return Busy(request, holder, start, activity);
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
                    // Revoking the lease deletes the ticket, so nobody waits behind a caller that left; its slot is used
                    // again only when etcd confirmed the revoke (or nothing was put). Unlike a lock's waiter (whose lease
                    // has no key yet), a ticket blocks the callers behind it until it is gone: a timed-out or cancelled
                    // caller hears only after the revoke (one request, bounded by the request timeout), unless etcd
                    // is what failed.
                    bool gone = await UndoAsync(request.FullKey, lease, gate, ticketKey, inBackground: etcdFailed).ConfigureAwait(false);
                    _places.Leave(family, gone ? slot : -1);
                }
            }
        }
        finally
        {
            _work.End();
        }
    }

    /// <summary>About how many bytes of keys a read that counts every older ticket may return.</summary>
    internal const int CountAllBytes = 1 << 20;

    private static DateTime? Deadline(DateTime deadline) => deadline == default ? null : deadline;

    /// <summary>The put of the ticket, with the blockers read at the same revision.</summary>
    private static TxnRequest PutTicket(QueueRequest queue, ByteString ticket, long leaseId)
    {
        var txn = new TxnRequest();
        txn.Compare.Add(new Compare
        {
            Key = ticket,
            Target = Compare.Types.CompareTarget.Create,
            Result = Compare.Types.CompareResult.Equal,
            CreateRevision = 0,
        });
        RangeRequest blockers = queue.OlderBlockers(ticketRevision: 0);
        blockers.MaxCreateRevision = 0; // ours is the newest key at this revision: every other one is older
        // Without a revision filter etcd's Count is exact, so a semaphore needs only its oldest MaxCount + 1 (ours among
        // them when admitted); the range holds our own ticket too except for a reader's.
        blockers.Limit = queue.Kind == QueueKind.Semaphore ? queue.MaxCount + 1 : queue.Kind == QueueKind.Read ? 1 : 2;

        txn.Success.Add(new RequestOp { RequestPut = new PutRequest { Key = ticket, Value = queue.Value, Lease = leaseId } });
        txn.Success.Add(new RequestOp { RequestRange = blockers });
        txn.Failure.Add(new RequestOp { RequestRange = new RangeRequest { Key = ticket } });
        return txn;
    }

    /// <summary>Reads the ticket and its older blockers at one revision; null when the ticket is gone.</summary>
    /// <param name="queue">The acquire.</param>
    /// <param name="ticket">Our ticket's key.</param>
    /// <param name="ticketRevision">Our ticket's create revision.</param>
    /// <param name="token">Ends the read.</param>
    /// <param name="countAll">
    /// A semaphore's: also read the keys (only) of every older ticket, to count them exactly. Rare (see the caller): a
    /// read of every older key by every waiter at every release was what stalled 1,200 waiters.
    /// </param>
    private async ValueTask<Standing?> ReadStandingAsync(QueueRequest queue, ByteString ticket, long ticketRevision, CancellationToken token, bool countAll = false)
    {
        var txn = new TxnRequest();
        txn.Success.Add(new RequestOp { RequestRange = new RangeRequest { Key = ticket, KeysOnly = true } });
        txn.Success.Add(new RequestOp { RequestRange = queue.OlderBlockers(ticketRevision) });
        if (countAll)
        {
            // At most about 1 MB of keys (gRPC refuses answers over 4 MB): past that, the count is a lower bound, which
            // only makes the next wake early (and its read count again), never late.
            RangeRequest all = queue.OlderBlockers(ticketRevision);
            all.Limit = Math.Max(queue.MaxCount + 1, CountAllBytes / (all.Key.Length + 48));
            all.KeysOnly = true;
            txn.Success.Add(new RequestOp { RequestRange = all });
        }

        TxnResponse answer = await _calls.Kv.TxnAsync(txn, _calls.CallOptions(token)).ResponseAsync.ConfigureAwait(false);
        RangeResponse mine = answer.Responses[0].ResponseRange;
        if (mine.Kvs.Count != 1 || mine.Kvs[0].CreateRevision != ticketRevision)
        {
            return null;
        }

        Standing standing = Judge(queue, answer.Responses[1].ResponseRange, ticket, answer.Header.Revision, inPut: false);
        if (countAll)
        {
            // Same revision: the limited range decided admission (with every MaxCount checked); this one counts (a
            // lower bound when etcd has more than it returned: see above).
            standing = standing with { Older = answer.Responses[2].ResponseRange.Kvs.Count, Exact = true };
        }

        return standing;
    }

    /// <summary>
    /// Counts the blockers older than our ticket in <paramref name="range"/> (<paramref name="inPut"/>: read in the
    /// put's transaction, where the range holds our own ticket too, except a reader's) and checks a semaphore's MaxCount
    /// against every older ticket it was given.
    /// </summary>
    /// <exception cref="InvalidOperationException">An older semaphore ticket carries another MaxCount.</exception>
    private static Standing Judge(QueueRequest queue, RangeResponse range, ByteString ticket, long revision, bool inPut)
    {
        // In the put's transaction the range has no revision filter and etcd's Count is exact; a later read filters by
        // max_create_revision, which etcd applies after counting, so it counts what it was given (at most MaxCount older
        // tickets of a semaphore, `More` telling whether there were others; at most the one youngest older blocker otherwise).
        int older = inPut ? (int)range.Count - (queue.Kind == QueueKind.Read ? 0 : 1) : range.Kvs.Count;
        bool exact = inPut || !range.More;
        Mvccpb.KeyValue? waitOn = null;
        var olderKvs = new List<Mvccpb.KeyValue>(range.Kvs.Count);
        foreach (Mvccpb.KeyValue kv in range.Kvs)
        {
            if (kv.Key.Equals(ticket))
            {
                continue;
            }

            olderKvs.Add(kv);
            if (queue.Kind == QueueKind.Semaphore)
            {
                int? theirs = QueueRequest.MaxCountOf(kv.Value);
                if (theirs != queue.MaxCount)
                {
                    throw new InvalidOperationException(
                        $"Semaphore '{queue.Request.FullKey}' was asked for with MaxCount {queue.MaxCount}, but its ticket '{kv.Key.ToStringUtf8()}' of holder '{QueueRequest.HolderOf(kv.Value)}' was taken with " +
                        (theirs is { } n ? $"MaxCount {n}" : "a value that is not a semaphore ticket's") +
                        ". Every user of one semaphore must pass the same MaxCount (otherwise the larger would silently win); change one of them, or use another key.");
                }
            }

            // Semaphore: the oldest (a marker for messages); otherwise sorted youngest first: the last blocker before ours.
            waitOn ??= kv;
        }

        Invariant.Require(older >= 0, "the blockers counted include our own ticket at most once");
        // Admitted only when every older ticket was returned (fewer than the limit), so every one of them was checked.
        return new Standing(older < queue.Admits, older, exact, waitOn, olderKvs, revision);
    }

    private LockHold? Busy(AcquireRequest request, string? holder, long start, Activity? activity)
    {
        TimeSpan waited = Stopwatch.GetElapsedTime(start);
        _calls.Metrics.Timeouts.Add(1);
        _calls.Metrics.AcquireDuration.Record(waited.TotalMilliseconds);
        activity?.SetTag("attributelock.busy", true);
        if (request.ThrowWhenBusy)
        {
            throw new EtcdLockTimeoutException(request.FullKey, holder ?? "another caller", waited);
        }

        return null;
    }

    /// <summary>Gives up a lease whose ticket is gone (revoked behind the caller) and its local gate.</summary>
    private void Drop(ref KeptLease? lease, ref LocalGates.Gate? gate, string? ticketKey)
    {
        if (lease is not null)
        {
            lease.Retire();
            _grants.RevokeInBackground(ticketKey ?? "", lease.Id, (int)lease.TtlSeconds);
            lease = null;
        }

        if (gate is not null)
        {
            _gates.Exit(ticketKey!, gate);
            gate = null;
        }
    }

    /// <returns>Whether the ticket's key is confirmed gone (or there was none).</returns>
    private async ValueTask<bool> UndoAsync(string fullKey, KeptLease? lease, LocalGates.Gate? gate, string? ticketKey, bool inBackground)
    {
        try
        {
            if (lease is null)
            {
                return true;
            }

            if (inBackground)
            {
                lease.Retire();
                _grants.RevokeInBackground(ticketKey ?? fullKey, lease.Id, (int)lease.TtlSeconds);
                return false;
            }

            return await _grants.RevokeQuietlyAsync(ticketKey ?? fullKey, lease).ConfigureAwait(false);
        }
        finally
        {
            if (gate is not null)
            {
                _gates.Exit(ticketKey!, gate);
            }
        }
    }
}
