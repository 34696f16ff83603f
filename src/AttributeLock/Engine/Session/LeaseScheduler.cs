using System.Diagnostics;

namespace AttributeLock.Engine.Session;

/// <summary>
/// One background thread per process that runs every kept lease's schedule: it sends renewals when they are due and
/// declares a lease lost when its deadline passes (<see cref="KeptLease.OnScheduled"/>). It does not depend on the
/// thread pool: an application that starves the pool (blocking handlers, a user callback that blocks) delays the
/// answers to renewals — then the hold may be lost — but neither the sending of renewals nor the loss itself.
/// </summary>
/// <remarks>
/// Invariants:
/// <list type="bullet">
/// <item>The queue holds (lease, due time) entries. A lease queues a new entry only when its next due time is earlier
/// than the one it has queued; a later due time is found when the queued entry runs (the lease then queues again), so
/// a renewal answered early costs no queue operation.</item>
/// <item>Entries of leases that ended (released, lost) are dropped when they come due, or all at once by a compaction
/// once they outnumber the live ones: a released lease is not kept reachable for its TTL (an ended lease also drops
/// its owner, so nothing of the hold is reachable from here).</item>
/// <item>Leases are called outside <c>s_gate</c>; they call <see cref="Schedule"/> under their own lock, so the lock
/// order is always lease, then scheduler, and nothing here takes a lease's lock.</item>
/// <item>Nothing run here blocks or runs user code: a renewal is queued on the keep-alive stream, a loss is recorded
/// and its signal handed to <see cref="SignalThreads"/>.</item>
/// </list>
/// </remarks>
internal static class LeaseScheduler
{
    private const int MinStaleForCompaction = 1024;

    // Schedule compacts a small queue itself once this many leases ended: under a steady stream of short holds the
    // entries of released leases are dropped within tens of milliseconds instead of a thousand releases later, so they
    // are not promoted by gen-0 collections (which made gen-1 collections about ten times as frequent), and no thread is
    // woken for it. A large queue is left to the thread, so that an acquire never pays for a long pass.
    private const int MinStaleForInlineCompaction = 64;
    private const int MaxInlineCompaction = 4096;
    private static readonly List<(KeptLease, long)> s_live = new();

    private static readonly object s_gate = new();
    private static readonly PriorityQueue<KeptLease, long> s_queue = new();
    private static long s_wakeAt = long.MaxValue;
    private static Thread? s_thread;
    // Leases ended since the last compaction: an upper bound of the stale entries in the queue.
    private static int s_ended;
    // How late the thread ran the last entries it ran, and when it ran them (Stopwatch ticks).
    private static long s_late;
    private static long s_lateAt;

    /// <summary>
    /// How late (in <see cref="Stopwatch"/> ticks) this thread ran the entries it ran last, if that was within the last
    /// second; 0 otherwise. More than a few milliseconds means the machine is short of CPU for renewals.
    /// </summary>
    public static long LatenessTicks(long now) =>
        now - Volatile.Read(ref s_lateAt) < Stopwatch.Frequency ? Volatile.Read(ref s_late) : 0;

    /// <summary>Runs <paramref name="lease"/>'s <see cref="KeptLease.OnScheduled"/> at <paramref name="due"/>.</summary>
    public static void Schedule(KeptLease lease, long due)
    {
        lock (s_gate)
        {
            if (s_queue.Count <= MaxInlineCompaction)
            {
                CompactIfMostlyStale(MinStaleForInlineCompaction);
            }

            s_queue.Enqueue(lease, due);
            if (s_thread is null)
            {
                s_thread = new Thread(Run) { IsBackground = true, Name = "AttributeLock lease schedule" };
                s_thread.UnsafeStart();
            }
            else if (due < s_wakeAt)
            {
                Monitor.Pulse(s_gate);
            }
        }
    }

    /// <summary>A lease ended (released or lost): its queued entries are stale.</summary>
    public static void OnEnded()
    {
        // Wake the thread now and then, so that a burst of releases is compacted away soon, not when the next entry is
        // due (a TTL/3 away: minutes for long TTLs).
        if (Interlocked.Increment(ref s_ended) % MinStaleForCompaction == 0)
        {
            lock (s_gate)
            {
                Monitor.Pulse(s_gate);
            }
        }
    }

    private static void Run()
    {
        var due = new List<(KeptLease Lease, long Due)>();
        while (true)
        {
            lock (s_gate)
            {
                while (true)
                {
                    CompactIfMostlyStale(MinStaleForCompaction);
                    long now = LeaseClock.GetTimestamp();
                    while (s_queue.TryPeek(out KeptLease? lease, out long at) && at <= now)
                    {
                        s_queue.Dequeue();
                        due.Add((lease, at));
                    }

                    if (due.Count > 0)
                    {
                        Volatile.Write(ref s_late, now - due[0].Due);
                        Volatile.Write(ref s_lateAt, now);
                        break;
                    }

                    s_wakeAt = s_queue.TryPeek(out _, out long next) ? next : long.MaxValue;
                    long waitMs = s_wakeAt == long.MaxValue
                        ? Timeout.Infinite
                        : Math.Clamp((long)Math.Ceiling((s_wakeAt - now) * 1000.0 / Stopwatch.Frequency), 1, int.MaxValue - 1);
                    Monitor.Wait(s_gate, (int)waitMs);
                }

                s_wakeAt = long.MinValue; // busy: Schedule need not pulse
            }

            foreach ((KeptLease lease, long at) in due)
            {
                lease.OnScheduled(at); // renews, declares lost, or queues its next due time; dropped when ended
            }

            due.Clear();
        }
    }

    private static void CompactIfMostlyStale(int minStale)
    {
        // Under s_gate. Amortised O(1) per ended lease: a pass over n entries happens only after more than n/2 ended.
        int ended = Volatile.Read(ref s_ended);
        if (ended < minStale || ended < s_queue.Count / 2)
        {
            return;
        }

        List<(KeptLease, long)> live = s_live;
        foreach ((KeptLease lease, long at) in s_queue.UnorderedItems)
        {
            if (!lease.HasEnded)
            {
                live.Add((lease, at));
            }
        }

        Interlocked.Add(ref s_ended, -ended);
        s_queue.Clear();
        s_queue.EnqueueRange(live);
        live.Clear();
        if (live.Capacity > MaxInlineCompaction)
        {
            live.Capacity = 0; // a large pass's buffer is not kept
        }
    }
}
