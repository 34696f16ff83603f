namespace AttributeLock.EndToEnd.Tests;

public partial class NightlyJobs(IEtcdLockProvider locks)
{
    public int Runs;

    [EtcdLock("/jobs/nightly", Ttl = 5, WaitTimeoutMilliseconds = 0, WhenBusy = LockBusyBehavior.Skip)]
    public partial Task<int> RunAsync(CancellationToken ct);

    private Task<int> RunAsyncCore(CancellationToken ct) => Task.FromResult(Interlocked.Increment(ref Runs));

    [EtcdLock("/jobs/hourly", Ttl = 5, WhenBusy = LockBusyBehavior.Skip)]
    public partial Task<int> HourlyAsync(CancellationToken ct);

    private Task<int> HourlyAsyncCore(CancellationToken ct) => Task.FromResult(Interlocked.Increment(ref Runs));

    [EtcdLock("/jobs/report", Ttl = 5, WaitTimeoutMilliseconds = 300)]
    public partial Task ReportAsync(CancellationToken ct);

    private Task ReportAsyncCore(CancellationToken ct) => Task.CompletedTask;
}
