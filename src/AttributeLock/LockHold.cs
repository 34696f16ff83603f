namespace AttributeLock;

/// <summary>The state of one acquired lock, shared by its handle and any nested handles.</summary>
internal sealed class LockHold
{
    private readonly EtcdLockProvider _provider;
    private int _released;

    public LockHold(EtcdLockProvider provider, string key, KeptLease lease, long fencingToken, LocalGates.Gate gate, long acquiredTimestamp)
    {
        _provider = provider;
        Key = key;
        Lease = lease;
        FencingToken = fencingToken;
        Gate = gate;
        AcquiredTimestamp = acquiredTimestamp;
    }

    public EtcdLockProvider Provider => _provider;
    public string Key { get; }
    public KeptLease Lease { get; }
    public long LeaseId => Lease.Id;
    public long TtlSeconds => Lease.TtlSeconds;
    public long FencingToken { get; }
    public LocalGates.Gate Gate { get; }
    public long AcquiredTimestamp { get; }
    public CancellationToken LostToken => Lease.LostToken;

    public ValueTask ReleaseAsync() =>
        Interlocked.Exchange(ref _released, 1) == 0 ? _provider.ReleaseAsync(this) : ValueTask.CompletedTask;
}
