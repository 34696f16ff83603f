using System.Runtime.CompilerServices;
using System.Diagnostics;

namespace AttributeLock.Engine.Session;

/// <summary>
/// Leases granted ahead of need, so that an uncontended acquire sends its lock transaction at once instead of waiting
/// for a lease grant first: at most one spare per TTL value in use (for at most <see cref="MaxTtls"/> values at once),
/// refilled in the background after each take.
/// </summary>
/// <remarks>
/// Invariants (the slots, <c>_disposed</c> and each slot's <c>Refilling</c> change only under <c>_slots</c>):
/// <list type="bullet">
/// <item>A spare is a <see cref="KeptLease"/> registered with the keeper from the send time of its grant: renewed at
/// TTL/3 and its deadline watched like a held lease's. It is not attached to any key while it is pooled.</item>
/// <item>A spare leaves its slot exactly once, under the lock: taken by one acquire (<see cref="TryTake"/>), discarded
/// (lost, idle) or revoked by dispose. So no two holds ever share a lease, and a spare is handed out at most once.</item>
/// <item>A taken spare becomes a hold only if it is still kept and its deadline is more than half a TTL away; otherwise
/// it is revoked in the background and the acquire grants a lease as before. A spare lost while pooled is never
/// handed out (its slot is emptied when the loss is reported, and the take checks the state again).</item>
/// <item>At most one refill per TTL is in flight (<c>Refilling</c>, checked when a refill ends); a refill that finds its slot full, or the pool
/// disposed, revokes what it granted. Nothing is refilled after dispose began.</item>
/// <item>Every revoke and refill started here is counted in flight (<see cref="ISessionWork"/>) before <c>_slots</c> is
/// released, so a dispose (which takes <c>_slots</c> after the session is marked disposed and before it waits for the
/// in-flight count to drain) either revokes the spare itself or waits for the work that will.</item>
/// <item>A spare not taken for <see cref="IdleTimeout"/> is revoked (checked each time its renewal is due, so it lives
/// at most the idle period plus TTL/3 after its grant).</item>
/// <item>Lock order: <c>_slots</c>, then the session's lock (counting in flight) or a lease's own lock. No lease calls
/// back into this pool while holding its lock (owners are told outside it).</item>
/// </list>
/// <para>The pool belongs to <see cref="LeaseGrants"/>, which hands its spares out (<see cref="ILeaseGrants.TryTakeSpare"/>);
/// it grants and revokes them through the same <see cref="ILeaseGrants"/>.</para>
/// </remarks>
internal sealed class SpareLeases
{
    private readonly ILeaseGrants _grants;
    private readonly IEtcdCalls _calls;
    private readonly ISessionWork _work;
    private readonly bool _enabled;
    private readonly TimeSpan? _idleTimeout;
    // A slot exists while its TTL has a spare pooled or being granted (it is removed when it empties), and at most
    // MaxTtls exist: a process computing many different TTLs keeps a few spares, not one per value.
    private readonly Dictionary<int, Slot> _slots = new();
    internal const int MaxTtls = 4;
    private bool _disposed;

    public SpareLeases(ILeaseGrants grants, IEtcdCalls calls, ISessionWork work, EngineSettings settings)
    {
        _grants = grants;
        _calls = calls;
        _work = work;
        _enabled = settings.SpareLeases;
        _idleTimeout = settings.SpareIdleTimeout;
    }

    /// <summary>
    /// One TTL's spare, and its refill: the slot is the refill's work item and holds the grant in flight (at most one
    /// per slot, see <c>Refilling</c>), so a refill costs the grant's own state machine and nothing else per take.
    /// </summary>
    private sealed class Slot(SpareLeases pool, int ttlSeconds) : IThreadPoolWorkItem
    {
        public Spare? Current;
        public bool Refilling;
        public long LastTaken;
        public readonly int TtlSeconds = ttlSeconds;

        /// <summary>The refill's grant while it is in flight (set and read only by the refill).</summary>
        public ConfiguredValueTaskAwaitable<KeptLease>.ConfiguredValueTaskAwaiter Granting;

        /// <summary>Made once per slot, when a grant first completes asynchronously.</summary>
        public Action? OnGranted;

        public SpareLeases Pool { get; } = pool;

        void IThreadPoolWorkItem.Execute() => Pool.StartRefill(this);

        public void Granted() => Pool.FinishRefill(this);
    }

    /// <summary>
    /// Under <c>_slots</c>, with all <see cref="MaxTtls"/> slots in use: frees the one taken least recently if it went
    /// longer than its TTL untaken and no refill is in flight for it (its spare is revoked). A slot in steady use is
    /// never evicted, and one TTL's worth of idleness bounds how often an eviction can waste a grant.
    /// </summary>
    private bool EvictStaleSlot()
    {
        long now = Stopwatch.GetTimestamp();
        int staleTtl = 0;
        Slot? stale = null;
        foreach ((int ttl, Slot candidate) in _slots)
        {
            if (!candidate.Refilling && now - candidate.LastTaken > ttl * Stopwatch.Frequency &&
                (stale is null || candidate.LastTaken < stale.LastTaken))
            {
                (staleTtl, stale) = (ttl, candidate);
            }
        }

        if (stale is null)
        {
            return false;
        }

        if (stale.Current is { } spare)
        {
            stale.Current = null;
            RetireAndRevoke(spare.Lease, staleTtl); // in flight under _slots
        }

        _slots.Remove(staleTtl);
        return true;
    }

    /// <summary>One pooled lease; its owner while pooled (the hold becomes the owner when a take hands it out).</summary>
    private sealed class Spare : ILeaseOwner
    {
        public Spare(SpareLeases pool, int ttlSeconds, KeptLease lease)
        {
            Pool = pool;
            TtlSeconds = ttlSeconds;
            Lease = lease;
            PooledAt = Stopwatch.GetTimestamp();
        }

        public SpareLeases Pool { get; }

        public int TtlSeconds { get; }

        public KeptLease Lease { get; }

        public long PooledAt { get; }

        public void OnLeaseLost(string reason) => Pool.Discard(this);

        public void OnRenewalDue()
        {
            if (Stopwatch.GetElapsedTime(PooledAt) >= Pool.IdleTimeout(TtlSeconds))
            {
                Pool.Discard(this);
            }
        }
    }

    /// <summary>How long a spare may stay untaken: max(2 × TTL, 30 s), unless the settings say otherwise.</summary>
    public TimeSpan IdleTimeout(int ttlSeconds) =>
        _idleTimeout ?? TimeSpan.FromSeconds(Math.Max(2L * ttlSeconds, 30L));

    /// <summary>
    /// Takes the spare for <paramref name="ttlSeconds"/> if there is a usable one, and starts a refill in the background
    /// (one per TTL at a time). Never waits for etcd.
    /// </summary>
    /// <returns>A kept lease with more than half its TTL left that no one else has or will get; <c>null</c>: grant one.</returns>
    public KeptLease? TryTake(int ttlSeconds)
    {
        if (!_enabled)
        {
            return null;
        }

        Spare? spare;
        lock (_slots)
        {
            if (_disposed)
            {
                return null;
            }

            if (!_slots.TryGetValue(ttlSeconds, out Slot? slot))
            {
                if (_slots.Count >= MaxTtls && !EvictStaleSlot())
                {
                    // Spares for MaxTtls other TTL values, each taken within its TTL: this one gets none (its calls
                    // grant their own leases) until one of them goes a TTL untaken.
                    return null;
                }

                slot = new Slot(this, ttlSeconds);
                _slots.Add(ttlSeconds, slot);
            }

            slot.LastTaken = Stopwatch.GetTimestamp();
            spare = slot.Current;
            slot.Current = null; // from here on this acquire alone has it
            if (!slot.Refilling)
            {
                slot.Refilling = true;
                // Counted in flight under _slots (dispose waits for it); started off the caller's path and context
                // with the slot as the work item: no closure, delegate, work item or state machine of its own per take.
                _work.Begin();
                ThreadPool.UnsafeQueueUserWorkItem(slot, preferLocal: false);
            }
        }

        if (spare is null)
        {
            return null;
        }

        // Outside _slots: TicksLeft may declare the lease lost and tell its owner (Discard, which then finds it taken).
        KeptLease lease = spare.Lease;
        long minimumLeft = ttlSeconds * Stopwatch.Frequency / 2;
        if (lease.TicksLeft() > minimumLeft)
        {
            lease.ClearSpare();
            return lease;
        }

        // Lost, or too little of its TTL left to be worth a hold: the caller grants instead and never notices. This
        // runs inside an acquire, which is counted in flight, so dispose waits for the revoke to go out.
        RetireAndRevoke(lease, ttlSeconds);
        return null;
    }

    /// <summary>
    /// Grants the next spare for the slot's TTL; runs counted in flight (begun by the take that started it, ended by
    /// <see cref="EndRefill"/>), off any caller's path. Not an async method: the grant's own state machine is the only
    /// one, and its completion continues here through the slot's delegate. Never throws.
    /// </summary>
    private void StartRefill(Slot slot)
    {
        try
        {
            // Dispose began before this ran (it started under _slots, so dispose waits for it): grant nothing.
            _calls.StopToken.ThrowIfCancellationRequested();

            // Cancelled by dispose: GrantAsync revokes an id whose grant it could not confirm.
            slot.Granting = _grants.GrantAsync("(spare lease)", slot.TtlSeconds, spare: true, _calls.StopToken).ConfigureAwait(false).GetAwaiter();
        }
        catch (Exception ex)
        {
            Log.SpareGrantFailed(_calls.Logger, slot.TtlSeconds, ex.Message);
            EndRefill(slot, null);
            return;
        }

        if (slot.Granting.IsCompleted)
        {
            FinishRefill(slot);
        }
        else
        {
            slot.Granting.UnsafeOnCompleted(slot.OnGranted ??= slot.Granted);
        }
    }

    /// <summary>The refill's grant completed: pools its lease (or revokes it) and ends the refill.</summary>
    private void FinishRefill(Slot slot)
    {
        KeptLease? lease = null;
        try
        {
            lease = slot.Granting.GetResult();
        }
        catch (Exception ex)
        {
            Log.SpareGrantFailed(_calls.Logger, slot.TtlSeconds, ex.Message);
        }
        finally
        {
            slot.Granting = default; // before the refill ends: the next one may set it
        }

        EndRefill(slot, lease);
    }

    /// <summary>Ends a refill (its grant done, or never sent): pools or revokes <paramref name="lease"/>, then ends the count.</summary>
    private void EndRefill(Slot slot, KeptLease? lease)
    {
        int ttlSeconds = slot.TtlSeconds;
        try
        {
            lock (_slots)
            {
                Invariant.Require(slot.Refilling, "at most one refill per TTL is in flight");
                slot.Refilling = false;
                if (lease is not null)
                {
                    var spare = new Spare(this, ttlSeconds, lease);
                    // Attached under _slots, before anyone can take it: a take's hold attaches after this, never before
                    // (the hold must be the owner from then on). A loss reported from now on empties the slot (Discard
                    // waits for _slots); a lease already lost is not pooled.
                    if (!_disposed && slot.Current is null && lease.Attach(spare))
                    {
                        slot.Current = spare;
                    }
                    else
                    {
                        // Dispose began while the grant was in flight, or the lease is already lost (or a slot is
                        // somehow full): never keep a second spare, never leak one. Counted in flight under _slots
                        // (this refill still is, too), so dispose waits for the revoke.
                        RetireAndRevoke(lease, ttlSeconds);
                    }
                }

                RemoveIfEmpty(ttlSeconds, slot);
            }
        }
        catch (Exception ex)
        {
            // A broken invariant (a bug): it runs on the grant's completion or a pool thread, so it is logged, not thrown.
            Log.SpareGrantFailed(_calls.Logger, ttlSeconds, ex.Message);
        }
        finally
        {
            _work.End(); // begun by the take that started this refill
        }
    }

    /// <summary>Removes a pooled spare (lost or idle) and revokes it; nothing when it was taken or revoked already.</summary>
    private void Discard(Spare spare)
    {
        lock (_slots)
        {
            if (!_slots.TryGetValue(spare.TtlSeconds, out Slot? slot) || !ReferenceEquals(slot.Current, spare))
            {
                return; // taken (the take checks the state itself), or already discarded or revoked by dispose
            }

            slot.Current = null;
            RetireAndRevoke(spare.Lease, spare.TtlSeconds); // in flight under _slots
            RemoveIfEmpty(spare.TtlSeconds, slot);
        }
    }

    /// <summary>
    /// Stops keeping a spare's lease and revokes it in the background. Callers are counted in flight while they call
    /// this (they hold <c>_slots</c>, which dispose takes before it waits, or run inside an acquire), so dispose waits
    /// for the revoke.
    /// </summary>
    private void RetireAndRevoke(KeptLease lease, int ttlSeconds)
    {
        lease.Retire();
        _grants.RevokeInBackground("(spare lease)", lease.Id, ttlSeconds);
    }

    /// <summary>Under <c>_slots</c>: forgets a slot with no spare and no refill (a later take makes a new one).</summary>
    private void RemoveIfEmpty(int ttlSeconds, Slot slot)
    {
        if (slot.Current is null && !slot.Refilling && _slots.TryGetValue(ttlSeconds, out Slot? current) && ReferenceEquals(current, slot))
        {
            _slots.Remove(ttlSeconds);
        }
    }

    /// <summary>
    /// Called by dispose after the session is marked disposed and before it waits for work in flight: revokes
    /// every pooled spare (counted in flight) and makes refills still in flight revoke what they grant.
    /// </summary>
    public void Dispose()
    {
        lock (_slots)
        {
            _disposed = true;
            foreach (Slot slot in _slots.Values)
            {
                if (slot.Current is { } spare)
                {
                    slot.Current = null;
                    RetireAndRevoke(spare.Lease, spare.TtlSeconds);
                }
            }
        }
    }
}
