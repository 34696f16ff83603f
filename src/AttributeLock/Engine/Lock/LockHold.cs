using System.Diagnostics;
using AttributeLock.Engine.Session;
using Google.Protobuf;

namespace AttributeLock.Engine.Lock;

/// <summary>A hold of a key in etcd: its lease, its fencing token (the key's create revision) and its local gate.</summary>
/// <remarks>
/// The lease reports to it (<see cref="ILeaseOwner"/>), the session registers it while open (<see cref="ISessionHold"/>),
/// and the key watch and guarded writes check its key (<see cref="IHeldKey"/>); everything else it asks of its
/// <see cref="ILockHoldHost"/>.
/// </remarks>
internal sealed class LockHold : HoldBase, ISessionHold, IHeldKey
{
    private volatile bool _overwrittenInPlace;
    private volatile bool _endedHere;
    // Stopwatch timestamp until which the key stays taken (EtcdLockOptions.HoldAtLeast); 0: no minimum.
    private long _holdUntil;

    public LockHold(ILockHoldHost host, string key, ByteString keyBytes, KeptLease lease, long fencingToken, LocalGates.Gate gate)
    {
        Host = host;
        Key = key;
        KeyBytes = keyBytes;
        Lease = lease;
        FencingToken = fencingToken;
        Gate = gate;
        AcquiredTimestamp = Stopwatch.GetTimestamp();
    }

    public ILockHoldHost Host { get; }
    public override string Key { get; }
    public ByteString KeyBytes { get; }
    public KeptLease Lease { get; }
    public override long LeaseId => Lease.Id;
    public override long TtlSeconds => Lease.TtlSeconds;
    public override long FencingToken { get; }
    public LocalGates.Gate Gate { get; }
    public long AcquiredTimestamp { get; }

    /// <summary>
    /// A queue primitive's hold: the place it occupies in this process until its release ends (see
    /// <see cref="Queue.LocalPlaces"/>); null for a lock, whose local gate does the same.
    /// </summary>
    public Queue.LocalPlaces.Family? Place { get; set; }

    /// <summary>A queue primitive's ticket slot in this process (its key is named after it); -1 for a lock.</summary>
    public int Slot { get; set; } = -1;

    /// <summary>The watch id of the key's watch on the session's watch stream; 0 while not watched.</summary>
    public long WatchId { get; set; }

    /// <summary>
    /// Another writer put the key while it still had our create revision (our incarnation of the key, possibly detached
    /// from our lease): revoking our lease may then not delete it, so the release deletes it if it is still that
    /// incarnation (<see cref="LockRelease"/>).
    /// </summary>
    public bool OverwrittenInPlace => _overwrittenInPlace;

    /// <summary>Records that the key was found overwritten in place (see <see cref="OverwrittenInPlace"/>).</summary>
    public void MarkOverwrittenInPlace() => _overwrittenInPlace = true;

    /// <summary>
    /// This process ended the hold while it was still live (the provider's dispose, a handle collected without being
    /// disposed): lost for its owner, but still ours in etcd, so its release keeps the minimum hold.
    /// </summary>
    public bool EndedHere => _endedHere;

    /// <summary>
    /// Keeps the key taken until <paramref name="minimum"/> after the acquire (<see cref="AcquiredTimestamp"/>), by the
    /// release (<see cref="LockRelease"/>). Set once, right after the acquire; zero asks for nothing.
    /// </summary>
    public void HoldAtLeast(TimeSpan minimum)
    {
        if (minimum > TimeSpan.Zero)
        {
            // In long ticks of the Stopwatch: at most int.MaxValue seconds (validated), far from overflowing.
            Volatile.Write(ref _holdUntil, AcquiredTimestamp + (long)Math.Ceiling(minimum.TotalSeconds * Stopwatch.Frequency));
        }
    }

    /// <summary>How long the key must stay taken from now on; zero or less when no minimum is left.</summary>
    public TimeSpan RemainingMinimum()
    {
        long until = Volatile.Read(ref _holdUntil);
        return until == 0 ? TimeSpan.Zero : TimeSpan.FromSeconds((until - Stopwatch.GetTimestamp()) / (double)Stopwatch.Frequency);
    }

    /// <summary>Ends a live hold from this process (see <see cref="EndedHere"/>); a hold lost already stays lost.</summary>
    public void EndHere(string reason)
    {
        if (IsLive)
        {
            _endedHere = true;
        }

        MarkLost(reason);
    }

    // The provider's dispose tells its open holds through this: they end here, still ours in etcd.
    void ISessionHold.MarkLost(string reason) => EndHere(reason);

    void ILeaseOwner.OnLeaseLost(string reason) => MarkLost(reason);

    void ILeaseOwner.OnRenewalDue() => Host.OnRenewalDue(this);

    void ISessionHold.OnRegistered() => Gate.Holder = Host.LocalHolder;

    public override ValueTask ReleaseAsync() => Host.ReleaseAsync(this);

    public override void OnAbandoned() => Host.OnAbandoned(this);

    protected override void Refresh() => Lease.CheckDeadline();

    public override Etcdserverpb.Compare[] OwnershipComparisons() => GuardedWrites.OwnershipComparisons(KeyBytes, FencingToken, Lease.Id);

    public override Task<Etcdserverpb.TxnResponse> WriteIfHeldAsync(IEnumerable<Etcdserverpb.RequestOp> operations, CancellationToken cancellationToken) =>
        GuardedWrites.WriteAsync(Host.Calls, this, Host.IsLockKeyHere, operations, cancellationToken);

    public override Task<Etcdserverpb.RangeResponse> ReadAsync(Etcdserverpb.RangeRequest request, CancellationToken cancellationToken) =>
        GuardedWrites.ReadAsync(Host.Calls, this, request, cancellationToken);

    protected override void ReportLost(string reason) => Host.OnHoldLost(this, reason);

    protected override void ReportCallbackFailed(string what, Exception exception) => Host.OnLostCallbackFailed(this, what, exception);
}
