using System.Diagnostics;

namespace AttributeLock.Engine.Session;

/// <summary>
/// One lease granted by this process: its client-side deadline, watched from the moment the grant was sent, and its
/// renewals, sent on the provider's shared keep-alive stream (see <see cref="LeaseKeeper"/>). Both run on the
/// process's lease schedule thread (<see cref="LeaseScheduler"/>), not on the thread pool.
/// </summary>
/// <remarks>
/// Invariants (state, deadline and schedule change only under <c>_gate</c>):
/// <list type="bullet">
/// <item>The deadline is the send time of the request etcd last confirmed (the grant or a renewal) plus the TTL etcd
/// answered. etcd restarts the TTL when it receives the request, which is after we sent it, so this deadline is never
/// later than etcd's own expiry: a loss is declared no later than another holder could get the key.</item>
/// <item>While the state is <see cref="LeaseState.Kept"/> an entry is always queued with the scheduler, due no later
/// than the earlier of the next renewal and the deadline, so the deadline is watched even when no renewal is ever sent
/// or answered. Nothing but the scheduler and a renewal's completion moves the schedule.</item>
/// <item>Lost and Retired are final: no later answer revives the lease. An ended lease drops its owner, so the
/// scheduler's stale entry keeps nothing of the hold reachable.</item>
/// <item>A lease carries at most one hold: its owner is the spare pool or nobody before a hold attaches (checked in
/// <see cref="Attach"/>), and the keeper keeps a lease id once (checked in <see cref="LeaseKeeper.Register"/>).</item>
/// <item>No user code runs under <c>_gate</c> or on the scheduler: a loss is handed to <see cref="ILeaseOwner.OnLeaseLost"/>,
/// which only records it and queues the signal.</item>
/// </list>
/// </remarks>
internal sealed class KeptLease
{
    private static readonly long s_retryBackoff = Stopwatch.Frequency / 5;

    private readonly object _gate = new();
    private readonly LeaseKeeper _keeper;
    private LeaseState _state;
    // The due time of the entry this lease has queued with the scheduler (long.MaxValue: none queued).
    private long _queuedDue = long.MaxValue;
    private volatile bool _ended;
    private long _deadline;
    private long _nextRenewal;
    // Renewals sent and not yet answered. A second one is sent (a hedge, perhaps to another member) when the first
    // has not been answered after a renewal interval; never more than two.
    private int _inFlight;
    private const int MaxInFlight = 2;
    private ILeaseOwner? _owner;

    // What a loss report says about the renewals (under _gate): when the timer was due and how late it ran at worst,
    // when the last renewal was sent, how many were sent and answered, and the slowest answer.
    private long _timerDue;
    private long _maxTimerLate;
    private long _lastSent;
    private int _sent;
    private int _answered;
    private int _failed;
    private long _slowestAnswer;
    private readonly long _grantSent;

    public KeptLease(LeaseKeeper keeper, long id, long ttlSeconds, long grantSentTimestamp, bool isSpare = false)
    {
        _keeper = keeper;
        _isSpare = isSpare;
        Id = id;
        TtlSeconds = ttlSeconds;
        RenewInterval = RenewIntervalFor(ttlSeconds);
        _scheduledInterval = RenewInterval;
        _nextRenewal = grantSentTimestamp + RenewInterval;
        _deadline = grantSentTimestamp + ttlSeconds * Stopwatch.Frequency;
        _confirmedSent = grantSentTimestamp;
        _grantSent = grantSentTimestamp;
        lock (_gate)
        {
            ArmTimer();
        }
    }

    public long Id { get; }

    /// <summary>How often (in <see cref="Stopwatch"/> ticks) a lease of this TTL is renewed: a third of it, at least 0.5 s.</summary>
    public static long RenewIntervalFor(long ttlSeconds) => Math.Max(Stopwatch.Frequency / 2, ttlSeconds * Stopwatch.Frequency / 3);

    /// <summary>
    /// How often a lease of this TTL is renewed while the keeper is under pressure (<see cref="LeaseKeeper.UnderPressure"/>):
    /// half of it, at least 0.5 s. That cuts the renewals asked by a third and still leaves half the TTL for the answer.
    /// </summary>
    public static long StretchedRenewIntervalFor(long ttlSeconds) => Math.Max(Stopwatch.Frequency / 2, ttlSeconds * Stopwatch.Frequency / 2);

    // The interval the next renewal was scheduled with: RenewInterval, or the stretched one under pressure. Written under
    // _gate, read without it by OverdueTicks.
    private long _scheduledInterval;

    // 1 while this lease's share is counted in the keeper's unproven demand (granted, no renewal answered yet); taken
    // to 0 exactly once, by the first answer or by the keeper forgetting the lease (LeaseKeeper.SettleUnproven).
    public int UnprovenShare = 1;

    public long TtlSeconds { get; }

    public long RenewInterval { get; }

    /// <summary>
    /// A shared keep-alive stream got stuck on this lease's renewal: it is renewed over streams of its own until etcd
    /// answers it again (see <see cref="LeaseKeeper"/>).
    /// </summary>
    public volatile bool RenewsAlone;

    // The send time of the last request etcd confirmed (the grant or a renewal); written under _gate, read without it.
    private long _confirmedSent;

    /// <summary>
    /// How long past its renewal interval this lease has gone without a confirmed renewal (0 or less while on time).
    /// Read without the lock, by the keeper's sweep.
    /// </summary>
    public long OverdueTicks(long now) => now - Volatile.Read(ref _confirmedSent) - Volatile.Read(ref _scheduledInterval);

    /// <summary>Released or lost (read without the lock, by the scheduler's compaction).</summary>
    public bool HasEnded => _ended;

    private volatile bool _isSpare;

    /// <summary>
    /// Granted ahead of need for the provider's spare pool (<see cref="SpareLeases"/>) and not handed to an acquire
    /// yet. Cleared once, by the take that hands it out; never set again.
    /// </summary>
    public bool IsSpare => _isSpare;

    /// <summary>Handed out of the spare pool to exactly one acquire (see <see cref="SpareLeases.TryTake"/>).</summary>
    public void ClearSpare() => _isSpare = false;

    /// <summary>
    /// How long (in <see cref="Stopwatch"/> ticks) the lease has left before its client-side deadline, read with its
    /// state in one step: 0 when it is lost or retired, or when its deadline has passed (it is then declared lost).
    /// </summary>
    public long TicksLeft()
    {
        long left;
        lock (_gate)
        {
            if (_state != LeaseState.Kept)
            {
                return 0;
            }

            left = _deadline - LeaseClock.GetTimestamp();
        }

        if (left <= 0)
        {
            // Outside _gate, as CheckDeadline does: MarkLost tells the owner.
            MarkLost(DeadlinePassedReason());
            return 0;
        }

        return left;
    }

    /// <summary>The state, with the deadline checked against the clock first (a late timer cannot hide a loss).</summary>
    public LeaseState State
    {
        get
        {
            CheckDeadline();
            lock (_gate)
            {
                return _state;
            }
        }
    }

    /// <summary>Declares the lease lost if its deadline has passed.</summary>
    public void CheckDeadline()
    {
        long deadline;
        lock (_gate)
        {
            if (_state != LeaseState.Kept)
            {
                return;
            }

            deadline = _deadline;
        }

        if (LeaseClock.GetTimestamp() >= deadline)
        {
            MarkLost(DeadlinePassedReason());
        }
    }

    /// <summary>From now on a loss of this lease is reported to <paramref name="owner"/> (the hold it carries).</summary>
    /// <returns><c>false</c> when the lease is already lost: the caller must not treat it as held.</returns>
    public bool Attach(ILeaseOwner owner)
    {
        lock (_gate)
        {
            if (_state != LeaseState.Kept)
            {
                return false;
            }

            if (LeaseClock.GetTimestamp() >= _deadline)
            {
                // Passed while nobody looked (a late schedule): lost, and never a hold.
                _state = LeaseState.Lost;
                End();
                return false;
            }

            Invariant.Require(_owner is not ISessionHold, "a lease carries at most one hold");
            _owner = owner;
            return true;
        }
    }

    private void ArmTimer()
    {
        // Under _gate. With the most renewals in flight only the deadline can be due.
        long due = _inFlight >= MaxInFlight ? _deadline : Math.Min(_nextRenewal, _deadline);
        _timerDue = due;
        if (due < _queuedDue)
        {
            _queuedDue = due;
            LeaseScheduler.Schedule(this, due);
        }

        Debug.Assert(_queuedDue <= due, "a kept lease always has an entry queued no later than its next due time");
    }

    /// <summary>Ends the lease's schedule (under <c>_gate</c>, once the state left Kept): drops the owner.</summary>
    private void End()
    {
        Debug.Assert(_state != LeaseState.Kept, "only an ended lease ends its schedule");
        if (!_ended)
        {
            _ended = true;
            _owner = null;
            LeaseScheduler.OnEnded();
        }
    }

    /// <summary>The scheduler ran the entry queued for <paramref name="due"/>: renew, declare lost, or queue again.</summary>
    public void OnScheduled(long due)
    {
        bool renew = false;
        bool expired = false;
        ILeaseOwner? owner;
        lock (_gate)
        {
            if (due == _queuedDue)
            {
                _queuedDue = long.MaxValue; // the queued entry is consumed; ArmTimer queues the next
            }

            if (_state != LeaseState.Kept)
            {
                return;
            }

            long now = LeaseClock.GetTimestamp();
            _maxTimerLate = Math.Max(_maxTimerLate, now - _timerDue);
            if (now >= _deadline)
            {
                expired = true;
            }
            else
            {
                if (now >= _nextRenewal && _inFlight < MaxInFlight)
                {
                    _inFlight++;
                    _sent++;
                    _lastSent = now;
                    _nextRenewal = now + RenewInterval; // unanswered by then: a hedge
                    renew = true;
                }

                ArmTimer();
            }

            owner = _owner;
        }

        if (expired)
        {
            MarkLost(DeadlinePassedReason());
        }
        else if (renew)
        {
            _keeper.StartRenewal(this);
            owner?.OnRenewalDue();
        }
    }

    /// <summary>A renewal sent at <paramref name="sentTimestamp"/> was answered with <paramref name="ttlSeconds"/>.</summary>
    public void OnRenewed(long sentTimestamp, long ttlSeconds)
    {
        if (ttlSeconds <= 0)
        {
            lock (_gate)
            {
                _inFlight--;
            }

            MarkLost("etcd reports the lease gone (expired or revoked)");
            return;
        }

        lock (_gate)
        {
            _inFlight--;
            _answered++;
            _slowestAnswer = Math.Max(_slowestAnswer, LeaseClock.GetTimestamp() - sentTimestamp);
            if (_state != LeaseState.Kept)
            {
                return;
            }

            long deadline = sentTimestamp + ttlSeconds * Stopwatch.Frequency;
            if (deadline > _deadline)
            {
                _deadline = deadline;
            }

            if (sentTimestamp > _confirmedSent)
            {
                Volatile.Write(ref _confirmedSent, sentTimestamp);
            }

            long interval = _keeper.UnderPressure ? StretchedRenewIntervalFor(TtlSeconds) : RenewInterval;
            Volatile.Write(ref _scheduledInterval, interval);
            _nextRenewal = Math.Max(_nextRenewal, sentTimestamp + interval);
            ArmTimer();
        }

        _keeper.OnRenewed(this);
    }

    /// <summary>A renewal failed (no answer in time, stream error): try again soon, while the deadline has not passed.</summary>
    public void OnRenewalFailed()
    {
        lock (_gate)
        {
            _inFlight--;
            _failed++;
            if (_state != LeaseState.Kept)
            {
                return;
            }

            _nextRenewal = Math.Min(_nextRenewal, LeaseClock.GetTimestamp() + s_retryBackoff);
            ArmTimer();
        }
    }

    /// <summary>
    /// Why the deadline passed, in figures a reader can act on: a timer that ran late means this process did not get
    /// to send its renewals in time (a starved thread pool, a paused process); renewals sent but unanswered mean etcd
    /// or the network did not answer in time.
    /// </summary>
    private string DeadlinePassedReason()
    {
        lock (_gate)
        {
            static string Ms(long ticks) => (ticks * 1000.0 / Stopwatch.Frequency).ToString("F0", System.Globalization.CultureInfo.InvariantCulture);
            long now = LeaseClock.GetTimestamp();
            // A schedule entry that is due and has not run yet counts too.
            long late = Math.Max(0, Math.Max(_maxTimerLate, now - _timerDue));
            string lastSent = _sent == 0 ? "none sent" : $"the last sent {Ms(now - _lastSent)} ms ago";
            // A timer runs within milliseconds of its due time in a healthy process; half a renewal interval late is not.
            string hint = late >= RenewInterval / 2 ? "; this process ran its renewals late: a paused process or a machine out of CPU?" : "";
            return $"no renewal confirmed within the lease's TTL of {TtlSeconds} s (granted {Ms(now - _grantSent)} ms ago; " +
                $"renewals: {_sent} sent, {_answered} answered, {_failed} failed, {lastSent}, slowest answer {Ms(_slowestAnswer)} ms; " +
                $"renewal timer up to {Ms(late)} ms late{hint})";
        }
    }

    /// <summary>Declares the lease lost (once); the owner, if any, is told.</summary>
    public void MarkLost(string reason)
    {
        ILeaseOwner? owner;
        lock (_gate)
        {
            if (_state != LeaseState.Kept)
            {
                return;
            }

            _state = LeaseState.Lost;
            owner = _owner;
            End();
        }

        _keeper.Forget(this);
        owner?.OnLeaseLost(reason);
    }

    /// <summary>Stops keeping the lease on purpose: it is never reported lost from now on.</summary>
    public void Retire()
    {
        lock (_gate)
        {
            if (_state == LeaseState.Kept)
            {
                _state = LeaseState.Retired;
                End();
            }
        }

        _keeper.Forget(this);
    }
}
