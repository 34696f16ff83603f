namespace AttributeLock.Engine;

/// <summary>
/// Where loss signals run: user callbacks registered on a hold's token run there, so they must not run on the lease
/// machinery (timers, renewals, the key watch) nor tie up the thread pool those rely on. Each signal gets a short-lived
/// dedicated background thread; past <see cref="MaxDedicated"/> signals running at once (a loss storm), further ones go
/// to the thread pool. No caller's ExecutionContext flows into either.
/// </summary>
internal static class SignalThreads
{
    internal const int MaxDedicated = 16;
    private static int s_running;

    public static void Run<T>(Action<T> signal, T state)
        where T : class
    {
        if (Interlocked.Increment(ref s_running) <= MaxDedicated)
        {
            var thread = new Thread(
                static s =>
                {
                    var (work, arg) = ((Action<T>, T))s!;
                    try
                    {
                        work(arg);
                    }
                    finally
                    {
                        Interlocked.Decrement(ref s_running);
                    }
                })
            {
                IsBackground = true,
                Name = "AttributeLock loss signal",
            };
            thread.UnsafeStart((signal, state));
            return;
        }

        Interlocked.Decrement(ref s_running);
        ThreadPool.UnsafeQueueUserWorkItem(signal, state, preferLocal: false);
    }
}
