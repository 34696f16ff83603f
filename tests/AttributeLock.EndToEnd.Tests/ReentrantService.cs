namespace AttributeLock.EndToEnd.Tests;

/// <summary>Wrappers on one key, for the reentrancy semantics: a body that runs a callback, and a nested variant.</summary>
public partial class ReentrantService(IEtcdLockProvider locks)
{
    /// <summary>Runs <paramref name="body"/> under the lock and returns the handle it ran under.</summary>
    [EtcdLock("/reentrant/<id>", Ttl = 5)]
    public partial Task<EtcdLockHandle?> RunAsync(int id, Func<EtcdLockHandle?, Task> body, CancellationToken ct);

    private Task<EtcdLockHandle?> RunAsyncCore(int id, Func<EtcdLockHandle?, Task> body, CancellationToken ct) => RunBodyAsync(body);

    private static async Task<EtcdLockHandle?> RunBodyAsync(Func<EtcdLockHandle?, Task> body)
    {
        EtcdLockHandle? current = EtcdLockContext.Current;
        await body(current);
        return current;
    }

    /// <summary>The same key, skipped at once when busy: returns null without running the body.</summary>
    [EtcdLock("/reentrant/<id>", Ttl = 5, WaitTimeoutMilliseconds = 0, WhenBusy = LockBusyBehavior.Skip)]
    public partial Task<EtcdLockHandle?> TryRunAsync(int id, Func<EtcdLockHandle?, Task> body, CancellationToken ct);

    private Task<EtcdLockHandle?> TryRunAsyncCore(int id, Func<EtcdLockHandle?, Task> body, CancellationToken ct) => RunBodyAsync(body);
}
