using System.Diagnostics;
using AttributeLock.Engine.Session;

namespace AttributeLock.Engine;

/// <summary>A hold of a key in etcd: its lease, its fencing token (the key's create revision) and its local gate.</summary>
internal sealed class LockHold : HoldBase, ISessionHold, IHeldKey
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

    private volatile bool _overwrittenInPlace;

    /// <summary>
    /// Another writer put the key while it still had our create revision (our incarnation of the key, possibly detached
    /// from our lease): revoking our lease may then not delete it, so the release deletes it if it is still that
    /// incarnation (<see cref="EtcdLockProvider.ReleaseAsync"/>).
    /// </summary>
    public bool OverwrittenInPlace => _overwrittenInPlace;

    /// <summary>Records that the key was found overwritten in place (see <see cref="OverwrittenInPlace"/>).</summary>
    public void MarkOverwrittenInPlace() => _overwrittenInPlace = true;

    void ILeaseOwner.OnLeaseLost(string reason) => MarkLost(reason);

    void ISessionHold.OnRegistered() => Gate.Holder = Provider.LocalHolder;

    void ILeaseOwner.OnRenewalDue() => Provider.OnRenewalDue(this);

    public override ValueTask ReleaseAsync() => Provider.ReleaseAsync(this);

    public override void OnAbandoned() => Provider.OnAbandoned(this);

    protected override void Refresh() => Lease.CheckDeadline();

    public override Etcdserverpb.Compare[] OwnershipComparisons() => GuardedWrites.OwnershipComparisons(KeyBytes, FencingToken, Lease.Id);

    public override Task<Etcdserverpb.TxnResponse> WriteIfHeldAsync(IEnumerable<Etcdserverpb.RequestOp> operations, CancellationToken cancellationToken) =>
        GuardedWrites.WriteAsync(Provider.Calls, this, Provider.IsLockKeyHere, operations, cancellationToken);

    public override Task<Etcdserverpb.RangeResponse> ReadAsync(Etcdserverpb.RangeRequest request, CancellationToken cancellationToken) =>
        GuardedWrites.ReadAsync(Provider.Calls, this, request, cancellationToken);

    protected override void ReportLost(string reason) => Provider.OnHoldLost(this, reason);

    protected override void ReportCallbackFailed(string what, Exception exception) => Provider.OnLostCallbackFailed(this, what, exception);
}
