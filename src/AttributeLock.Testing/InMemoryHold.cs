using AttributeLock.Engine;
using Etcdserverpb;
using Google.Protobuf;

namespace AttributeLock.Testing;

/// <summary>A hold of the in-memory provider: the engine's hold state machine (loss, release, nesting) without etcd.</summary>
internal sealed class InMemoryHold : HoldBase
{
    private readonly InMemoryEtcdLockProvider _provider;

    public InMemoryHold(InMemoryEtcdLockProvider provider, string key, ByteString keyBytes, long leaseId, long ttlSeconds, long fencingToken, long acquiredTimestamp, TimeSpan holdAtLeast, InMemoryTicket? ticket = null)
    {
        Ticket = ticket;
        AcquiredTimestamp = acquiredTimestamp;
        HoldAtLeast = holdAtLeast;
        _provider = provider;
        Key = key;
        KeyBytes = keyBytes;
        LeaseId = leaseId;
        TtlSeconds = ttlSeconds;
        FencingToken = fencingToken;
    }

    public override string Key { get; }

    /// <summary>The provider that gave the hold out.</summary>
    public InMemoryEtcdLockProvider Provider => _provider;

    /// <summary>The semaphore, reader-writer or election ticket the hold is; <c>null</c> for a lock's hold.</summary>
    public InMemoryTicket? Ticket { get; }

    public ByteString KeyBytes { get; }

    public override long LeaseId { get; }

    public override long TtlSeconds { get; }

    public override long FencingToken { get; }

    /// <summary>When the hold was taken, on the provider's <see cref="TimeProvider"/>.</summary>
    public long AcquiredTimestamp { get; }

    /// <summary>The least time the key stays taken from <see cref="AcquiredTimestamp"/> on (<see cref="EtcdLockOptions.HoldAtLeast"/>).</summary>
    public TimeSpan HoldAtLeast { get; }

    public override ValueTask ReleaseAsync()
    {
        _provider.Release(this);
        return ValueTask.CompletedTask;
    }

    public override void OnAbandoned() => ThreadPool.UnsafeQueueUserWorkItem(
        static h =>
        {
            h.MarkLost("the handle was garbage-collected without being disposed; the lock is being released");
            h._provider.Release(h);
        },
        this,
        preferLocal: false);

    public override Compare[] OwnershipComparisons() => GuardedWrites.OwnershipComparisons(KeyBytes, FencingToken, LeaseId);

    public override Task<TxnResponse> WriteIfHeldAsync(IEnumerable<RequestOp> operations, CancellationToken cancellationToken)
    {
        // The engine's rule: no guarded write to the hold's own lock key.
        List<RequestOp> checkedOps = GuardedWrites.CheckOperations(operations, Key, KeyBytes, isLockKey: null);
        cancellationToken.ThrowIfCancellationRequested();
        return Task.FromResult(_provider.GuardedWrite(this, checkedOps));
    }

    public override Task<RangeResponse> ReadAsync(RangeRequest request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        cancellationToken.ThrowIfCancellationRequested();
        return Task.FromResult(_provider.Read(request));
    }

    protected override void ReportLost(string reason) => _provider.RecordLoss(this, reason);

    protected override void ReportCallbackFailed(string what, Exception exception) => _provider.RecordCallbackFailure(exception);
}
