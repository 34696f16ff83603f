namespace AttributeLock.DistributedLock;

/// <summary>Runs the asynchronous engine for the synchronous methods of DistributedLock's interfaces.</summary>
internal static class SyncOverAsync
{
    /// <summary>
    /// Starts <paramref name="start"/> on the calling thread (so it sees the caller's execution context) but without the
    /// caller's <see cref="SynchronizationContext"/>, so that no continuation waits for the blocked thread; then blocks
    /// until it completes. Exceptions come out unwrapped.
    /// </summary>
    internal static T Run<TState, T>(Func<TState, ValueTask<T>> start, TState state)
    {
        SynchronizationContext? context = SynchronizationContext.Current;
        ValueTask<T> task;
        if (context is null)
        {
            task = start(state);
        }
        else
        {
            SynchronizationContext.SetSynchronizationContext(null);
            try
            {
                task = start(state);
            }
            finally
            {
                SynchronizationContext.SetSynchronizationContext(context);
            }
        }

        return task.IsCompleted ? task.GetAwaiter().GetResult() : task.AsTask().GetAwaiter().GetResult();
    }

    /// <summary>Same as <see cref="Run{TState, T}"/> for a <see cref="ValueTask"/> without result.</summary>
    internal static void Run<TState>(Func<TState, ValueTask> start, TState state) =>
        Run(static async s =>
        {
            await s.start(s.state).ConfigureAwait(false);
            return true;
        }, (start, state));
}
