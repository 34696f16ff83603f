using System.Diagnostics;

namespace AttributeLock.Engine;

/// <summary>
/// One background thread per process that declares leases lost when their deadline passes. It does not depend on
/// the thread pool: an application that starves the pool (blocking handlers, a user callback that blocks) delays
/// renewals — then the hold is lost — but never the loss itself. Each lease's own timer checks the deadline too.
/// </summary>
/// <remarks>
/// Invariants: the queue holds (lease, deadline-when-queued) pairs; a deadline that a renewal moved later is not
/// updated in the queue (renewals stay cheap) but found when the entry comes due, and the lease re-queued with its
/// current deadline. Entries of retired or lost leases are dropped when they come due, so the queue holds at most one
/// live entry per kept lease plus stale ones younger than a TTL. Leases are called outside <c>s_gate</c> (they call
/// <see cref="Watch"/> under their own lock; the order is always lease, then watchdog).
/// </remarks>
internal static class DeadlineWatchdog
{
    private static readonly object s_gate = new();
    private static readonly PriorityQueue<KeptLease, long> s_queue = new();
    private static long s_wakeAt = long.MaxValue;
    private static Thread? s_thread;

    public static void Watch(KeptLease lease, long deadline)
    {
        lock (s_gate)
        {
            s_queue.Enqueue(lease, deadline);
            if (s_thread is null)
            {
                s_thread = new Thread(Run) { IsBackground = true, Name = "AttributeLock lease deadlines" };
                s_thread.UnsafeStart();
            }
            else if (deadline < s_wakeAt)
            {
                Monitor.Pulse(s_gate);
            }
        }
    }

    private static void Run()
    {
        var due = new List<KeptLease>();
        while (true)
        {
            lock (s_gate)
            {
                while (true)
                {
                    long now = LeaseClock.GetTimestamp();
                    while (s_queue.TryPeek(out KeptLease? lease, out long deadline) && deadline <= now)
                    {
                        s_queue.Dequeue();
                        due.Add(lease);
                    }

                    if (due.Count > 0)
                    {
                        break;
                    }

                    s_wakeAt = s_queue.TryPeek(out _, out long next) ? next : long.MaxValue;
                    long waitMs = s_wakeAt == long.MaxValue
                        ? Timeout.Infinite
                        : Math.Clamp((long)Math.Ceiling((s_wakeAt - now) * 1000.0 / Stopwatch.Frequency), 1, int.MaxValue - 1);
                    Monitor.Wait(s_gate, (int)waitMs);
                }

                s_wakeAt = long.MinValue; // busy: Watch need not pulse
            }

            foreach (KeptLease lease in due)
            {
                lease.CheckDeadline(); // lost now, or re-queued with its later deadline, or dropped
            }

            due.Clear();
        }
    }
}
