namespace AttributeLock.Testing.Tests;

/// <summary>A service whose lock waits up to 10 minutes: a test of it must not take 10 minutes.</summary>
public partial class SlowSettlement(IEtcdLockProvider locks)
{
    [EtcdLock("/settlement/<day>", Ttl = 30, WaitTimeoutMilliseconds = 600_000)]
    public partial Task SettleAsync(int day, CancellationToken ct);

    private Task SettleAsyncCore(int day, CancellationToken ct) => Task.CompletedTask;
}
