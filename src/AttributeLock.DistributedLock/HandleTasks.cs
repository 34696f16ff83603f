using Medallion.Threading;

namespace AttributeLock.DistributedLock;

/// <summary>Turns a task of a concrete handle into the task of DistributedLock's handle interface.</summary>
internal static class HandleTasks
{
    /// <summary>The argument is evaluated by the caller, so invalid arguments still throw synchronously.</summary>
    internal static ValueTask<IDistributedSynchronizationHandle?> Upcast<THandle>(ValueTask<THandle?> task)
        where THandle : class, IDistributedSynchronizationHandle =>
        task.IsCompletedSuccessfully ? new(task.Result) : UpcastAsync(task);

    /// <summary>Same as <see cref="Upcast{THandle}(ValueTask{THandle})"/> for a task whose handle is never <c>null</c>.</summary>
    internal static ValueTask<IDistributedSynchronizationHandle> UpcastHeld<THandle>(ValueTask<THandle> task)
        where THandle : class, IDistributedSynchronizationHandle =>
        task.IsCompletedSuccessfully ? new(task.Result) : UpcastHeldAsync(task);

    private static async ValueTask<IDistributedSynchronizationHandle?> UpcastAsync<THandle>(ValueTask<THandle?> task)
        where THandle : class, IDistributedSynchronizationHandle =>
        await task.ConfigureAwait(false);

    private static async ValueTask<IDistributedSynchronizationHandle> UpcastHeldAsync<THandle>(ValueTask<THandle> task)
        where THandle : class, IDistributedSynchronizationHandle =>
        await task.ConfigureAwait(false);
}
