namespace AttributeLock.Engine;

/// <summary>
/// Where loss and end signals run: user callbacks registered on a hold's token run there, so they must not run on the
/// lease machinery (timers, renewals, the key watch) nor on the thread pool those rely on. Signals run on dedicated
/// background threads of this class alone, never on the pool: a signal that finds no idle thread starts a new one at
/// once, so no number of blocked callbacks delays another hold's signal, and none of them takes a pool thread from
/// the renewals. Idle threads wait up to <see cref="IdleTimeout"/> for more work, then end. No caller's
/// ExecutionContext flows into them.
/// </summary>
/// <remarks>
/// Invariant (under <c>s_gate</c>): after <see cref="Run{T}"/> returns, the queued signals are at most as many as the
/// threads waiting for work, or a new thread was started for the excess. A waiting thread always looks at the queue
/// before it waits or ends, so a queued signal is never left without a thread that will take it.
/// </remarks>
internal static class SignalThreads
{
    internal static readonly TimeSpan IdleTimeout = TimeSpan.FromSeconds(10);

    private static readonly object s_gate = new();
    private static readonly Queue<Action> s_queue = new();
    private static int s_idle;

    public static void Run<T>(Action<T> signal, T state)
        where T : class
    {
        bool start;
        lock (s_gate)
        {
            s_queue.Enqueue(() => signal(state));
            start = s_queue.Count > s_idle;
            if (!start)
            {
                Monitor.Pulse(s_gate);
            }
        }

        if (start)
        {
            var thread = new Thread(static () => Work()) { IsBackground = true, Name = "AttributeLock loss signal" };
            thread.UnsafeStart();
        }
    }

    private static void Work()
    {
        while (true)
        {
            Action? next;
            lock (s_gate)
            {
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
