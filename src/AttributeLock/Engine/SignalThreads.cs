namespace AttributeLock.Engine;

/// <summary>
/// Where loss and end signals run: user callbacks registered on a hold's token run there, so they must not run on the
/// lease machinery (timers, renewals, the key watch) nor on the thread pool those rely on. Signals run on dedicated
/// background threads of this class alone, never on the pool, and no signal waits behind another one's callbacks:
/// a thread about to run a signal first makes sure that another thread (idle, or started now) is there for the next
/// one, so blocked callbacks cost a thread each and delay nothing else, while a burst of quick signals (thousands of
/// holds lost at once) is drained by a few threads. Idle threads wait up to <see cref="IdleTimeout"/> for more work,
/// then end. No caller's ExecutionContext flows into them.
/// </summary>
/// <remarks>
/// Invariant (under <c>s_gate</c>): whenever the queue is not empty, a thread is idle (and was pulsed), or one is
/// starting, or a thread that has just dequeued a signal will check the queue again before it runs it. A starting or
/// idle thread always looks at the queue before it waits or ends, so a queued signal never waits for a callback.
/// </remarks>
internal static class SignalThreads
{
    internal static readonly TimeSpan IdleTimeout = TimeSpan.FromSeconds(10);

    private static readonly object s_gate = new();
    private static readonly Queue<Action> s_queue = new();
    private static int s_idle;
    private static int s_starting;

    // Threads started and not yet at the queue, at most: bounds the threads a burst starts, not the threads in all.
    private const int MaxStarting = 8;

    public static void Run<T>(Action<T> signal, T state)
        where T : class
    {
        bool start;
        lock (s_gate)
        {
            s_queue.Enqueue(() => signal(state));
            start = NeedsThread();
            if (!start && s_idle > 0)
            {
                Monitor.Pulse(s_gate);
            }
        }

        if (start)
        {
            StartThread();
        }
    }

    /// <summary>
    /// Under <c>s_gate</c>: more signals are queued than threads are idle or starting to take them (with at most
    /// <see cref="MaxStarting"/> starting at once, so a burst of quick signals does not start a thread each); counts the
    /// one to start.
    /// </summary>
    private static bool NeedsThread()
    {
        if (s_queue.Count <= s_idle + s_starting || s_starting >= MaxStarting)
        {
            return false;
        }

        s_starting++;
        return true;
    }

    private static void StartThread()
    {
        var thread = new Thread(static () => Work()) { IsBackground = true, Name = "AttributeLock loss signal" };
        thread.UnsafeStart();
    }

    private static void Work()
    {
        bool starting = true;
        while (true)
        {
            Action? next;
            bool successor;
            lock (s_gate)
            {
                if (starting)
                {
                    s_starting--;
                    starting = false;
                }

                while (!s_queue.TryDequeue(out next))
                {
                    s_idle++;
                    bool pulsed = Monitor.Wait(s_gate, IdleTimeout);
                    s_idle--;
                    if (!pulsed && s_queue.Count == 0)
                    {
                        return; // idle for IdleTimeout: the thread ends
                    }
                }

                // This signal's callbacks may block: the next signal must not wait for them.
                successor = NeedsThread();
            }

            if (successor)
            {
                StartThread();
            }

            // Each signal catches what user callbacks throw (HoldBase.Cancel); this is a last guard for the thread.
            try
            {
                next();
            }
            catch (Exception)
            {
            }
        }
    }
}
