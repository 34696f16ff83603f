using dotnet_etcd;
using Etcdserverpb;

namespace AttributeLock.Testing.Tests;

/// <summary>A generated service, the way users' code looks.</summary>
public partial class ContractService(IEtcdLockProvider locks)
{
    public int Runs;

    [EtcdLock("/service/job", WaitTimeoutMilliseconds = 0, WhenBusy = LockBusyBehavior.Skip)]
    public partial Task<int> TryRunAsync(CancellationToken ct);

    private Task<int> TryRunAsyncCore(CancellationToken ct) => Task.FromResult(++Runs);

    [EtcdLock("/service/settlement", WhenBusy = LockBusyBehavior.Skip, HoldAtLeastMilliseconds = 3000)]
    public partial Task<int> SettleAsync(bool fail, CancellationToken ct);

    private Task<int> SettleAsyncCore(bool fail, CancellationToken ct) =>
        fail ? throw new InvalidOperationException("the settlement failed") : Task.FromResult(++Runs);

    [EtcdLock("/service/outer")]
    public partial Task<bool> OuterAsync(CancellationToken ct);

    private Task<bool> OuterAsyncCore(CancellationToken ct) => InnerAsync(ct);

    [EtcdLock("/service/outer")]
    public partial Task<bool> InnerAsync(CancellationToken ct);

    private Task<bool> InnerAsyncCore(CancellationToken ct)
    {
        Runs++;
        return Task.FromResult(EtcdLockContext.Current!.IsNested);
    }
}
