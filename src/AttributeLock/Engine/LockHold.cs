using System.Diagnostics;

namespace AttributeLock.Engine;

/// <summary>A hold of a key in etcd: its lease, its fencing token (the key's create revision) and its local gate.</summary>
internal sealed class LockHold : HoldBase, ILeaseOwner
{
    public LockHold(EtcdLockProvider provider, string key, Google.Protobuf.ByteString keyBytes, KeptLease lease, long fencingToken, LocalGates.Gate gate)
    {
        Provider = provider;
        Key = key;
        KeyBytes = keyBytes;
        Lease = lease;
        FencingToken = fencingToken;
        Gate = gate;
        AcquiredTimestamp = Stopwatch.GetTimestamp();
    }

    public EtcdLockProvider Provider { get; }
    public override string Key { get; }
    public Google.Protobuf.ByteString KeyBytes { get; }
    public KeptLease Lease { get; }
    public override long LeaseId => Lease.Id;
    public override long TtlSeconds => Lease.TtlSeconds;
    public override long FencingToken { get; }
    public LocalGates.Gate Gate { get; }
    public long AcquiredTimestamp { get; }

    /// <summary>The watch id of the key's watch on the provider's watch stream; 0 while not watched.</summary>
    public long WatchId { get; set; }

    void ILeaseOwner.OnLeaseLost(string reason) => MarkLost(reason);

    void ILeaseOwner.OnRenewalDue() => Provider.StartWatchingIfNeeded(this);

    public override ValueTask ReleaseAsync() => Provider.ReleaseAsync(this);

    public override void OnAbandoned() => Provider.OnAbandoned(this);

    protected override void Refresh() => Lease.CheckDeadline(requeue: false);

    public override Etcdserverpb.Compare OwnershipComparison() => GuardedWrites.OwnershipComparison(this);

    public override Task<Etcdserverpb.TxnResponse> WriteIfHeldAsync(IEnumerable<Etcdserverpb.RequestOp> operations, CancellationToken cancellationToken) =>
        GuardedWrites.WriteAsync(this, operations, cancellationToken);

    protected override void ReportLost(string reason) => Provider.OnHoldLost(this, reason);

    protected override void ReportCallbackFailed(string what, Exception exception) => Provider.OnLostCallbackFailed(this, what, exception);
}
