using AttributeLock.Engine.Lock;

namespace AttributeLock.Engine.Queue;

/// <summary>
/// What the queue primitives' holds of this process occupy until they are released, lost or not: the lock's local
/// gate gives the same guarantee for a lock key. etcd admits the next ticket the moment a holder's ticket is gone, but
/// a holder of this process whose ticket was lost may still be running (it is told through its LostToken and its
/// guarded writes are refused, yet its body may take a while to stop). Within one process a newcomer therefore also
/// waits until such a hold is released: a semaphore counts this process's unreleased holds whose tickets etcd no longer
/// has, a writer and a candidate wait for every unreleased hold of their family, a reader for unreleased writers.
/// </summary>
/// <remarks>
/// Invariants (under the lock of <c>_families</c>; no user code runs under it): a family is in the map while an
/// acquire of it is in progress or one of its holds is unreleased (<see cref="Family.Users"/>); a hold is in
/// <see cref="Family.Held"/> from its registration to the end of its release; every change of
/// <see cref="Family.Held"/> completes <see cref="Family.Changed"/> and replaces it.
/// </remarks>
internal sealed class LocalPlaces
{
    private readonly Dictionary<string, Family> _families = new(StringComparer.Ordinal);

    internal sealed class Family
    {
        public Family(LocalPlaces owner, string key)
        {
            Owner = owner;
            Key = key;
        }

        public LocalPlaces Owner { get; }

        public string Key { get; }

        public readonly Dictionary<LockHold, QueueKind> Held = new();

        public TaskCompletionSource Changed = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public int Users;

        /// <summary>A semaphore's deletes, watched once for all its waiters of this process.</summary>
        public SharedDeletes Deletes { get; } = new();

        // Ticket slots of this process: a ticket's key is named after its slot, and a slot whose key etcd confirmed
        // gone is used again, so that the keys under the primitive stay few. etcd scans every key a range covers that
        // was not compacted away yet, deleted ones included: named after lease ids, each acquire left a new deleted key
        // and the acquire's read grew slower with every call until etcd compacted.
        private readonly Stack<int> _freeSlots = new();
        private int _nextSlot;

        /// <summary>A slot no live ticket of this process uses (under the owner's lock).</summary>
        public int TakeSlot() => _freeSlots.Count > 0 ? _freeSlots.Pop() : _nextSlot++;

        /// <summary>The slot's key is confirmed gone from etcd: it may be used again (under the owner's lock).</summary>
        public void ReturnSlot(int slot) => _freeSlots.Push(slot);

        /// <summary>
        /// The hold's release ended: its place is free (see <see cref="LockHold.Place"/>), and its slot too when its key
        /// is confirmed gone (<paramref name="keyGone"/>: its lease's revoke was confirmed).
        /// </summary>
        public void Left(LockHold hold, bool keyGone) => Owner.Leave(this, hold, keyGone ? hold.Slot : -1);
    }

    /// <summary>An acquire of the family begins (it is counted until it ends or its hold is released).</summary>
    public Family Join(string familyKey)
    {
        lock (_families)
        {
            if (!_families.TryGetValue(familyKey, out Family? family))
            {
                family = new Family(this, familyKey);
                _families.Add(familyKey, family);
            }

            family.Users++;
            return family;
        }
    }

    /// <summary>An acquire ended without a hold; <paramref name="slot"/> (-1: none) is returned when its key is gone.</summary>
    public void Leave(Family family, int slot) => Leave(family, null, slot);

    /// <summary>A slot for a new ticket of the family.</summary>
    public int TakeSlot(Family family)
    {
        lock (_families)
        {
            return family.TakeSlot();
        }
    }

    /// <summary>A slot whose key is confirmed gone (or was never put) may be used again.</summary>
    public void ReturnSlot(Family family, int slot)
    {
        lock (_families)
        {
            family.ReturnSlot(slot);
        }
    }

    private void Leave(Family family, LockHold? hold, int slot)
    {
        TaskCompletionSource? changed = null;
        lock (_families)
        {
            if (slot >= 0)
            {
                family.ReturnSlot(slot);
            }

            if (hold is not null && family.Held.Remove(hold))
            {
                changed = family.Changed;
                family.Changed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            }

            Invariant.Require(family.Users > 0, "a family is left once per join");
            if (--family.Users == 0)
            {
                Invariant.Require(family.Held.Count == 0, "a family with an unreleased hold has a user");
                _families.Remove(family.Key);
            }
        }

        changed?.TrySetResult();
    }

    /// <summary>A hold was registered: it occupies its place until its release ends (it keeps its acquire's join).</summary>
    public void Occupy(Family family, LockHold hold, QueueKind kind)
    {
        lock (_families)
        {
            family.Held.Add(hold, kind);
        }

        hold.Place = family;
    }

    /// <summary>
    /// Whether this process's unreleased holds of the family leave room for a ticket that etcd admitted; when not, the
    /// task that completes when one of them is released.
    /// </summary>
    /// <param name="family">The family.</param>
    /// <param name="queue">The acquire.</param>
    /// <param name="older">The semaphore's older tickets as etcd returned them (all of them when etcd admitted).</param>
    public Task? Blocked(Family family, QueueRequest queue, IReadOnlyList<Mvccpb.KeyValue> older)
    {
        lock (_families)
        {
            int occupying = 0;
            foreach ((LockHold hold, QueueKind kind) in family.Held)
            {
                occupying += queue.Kind switch
                {
                    // Ours whose tickets etcd no longer counts (lost, not yet released): they still run here.
                    QueueKind.Semaphore => older.Any(kv => kv.Key.Equals(hold.KeyBytes)) ? 0 : 1,
                    QueueKind.Read => kind == QueueKind.Write ? 1 : 0,
                    _ => 1,
                };
            }

            bool room = queue.Kind == QueueKind.Semaphore ? older.Count + occupying < queue.MaxCount : occupying == 0;
            return room ? null : family.Changed.Task;
        }
    }
}
