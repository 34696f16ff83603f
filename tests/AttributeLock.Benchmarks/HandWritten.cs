using System.Diagnostics;
using dotnet_etcd;
using Etcdserverpb;
using Google.Protobuf;
using V3Lockpb;

namespace AttributeLock.Benchmarks;

/// <summary>
/// What a careful user writes by hand with dotnet-etcd to do what a generated wrapper does: the baseline (1), etcd's
/// own lock API (3), the floor (6), and the pre-granted-lease prototype.
/// </summary>
public sealed class HandWritten : IDisposable
{
    public const int TtlSeconds = 10;

    private readonly EtcdClient _client;
    private readonly string _holder = $"{Environment.MachineName} pid={Environment.ProcessId} hand-written";
    private long _calls;

    public HandWritten(string endpoint) => _client = new EtcdClient(endpoint);

    public EtcdClient Client => _client;

    /// <summary>(1): LeaseGrant, Txn If(Version(key)==0) Then(Put(key, holder, lease)) Else(Get(key)), body, LeaseRevoke.</summary>
    public async Task LockedCallAsync(ByteString key, Action? body = null)
    {
        LeaseGrantResponse lease = await _client.LeaseGrantAsync(new LeaseGrantRequest { TTL = TtlSeconds }).ConfigureAwait(false);
        await HoldAsync(key, lease.ID, body).ConfigureAwait(false);
    }

    /// <summary>The transaction, the body and the revoke: everything after the lease is granted.</summary>
    public async Task HoldAsync(ByteString key, long leaseId, Action? body)
    {
        ByteString value = ByteString.CopyFromUtf8($"{_holder} call={Interlocked.Increment(ref _calls)}");
        TxnResponse answer = await _client.TransactionAsync(LockTransaction(key, value, leaseId)).ConfigureAwait(false);
        if (!answer.Succeeded)
        {
            throw new InvalidOperationException($"The key {key.ToStringUtf8()} was busy: the hand-written benchmark expects it free.");
        }

        body?.Invoke();
        await _client.LeaseRevokeAsync(new LeaseRevokeRequest { ID = leaseId }).ConfigureAwait(false);
    }

    /// <summary>
    /// (1) again, through the raw gRPC clients with a deadline on every call: what the provider itself sends. Tells
    /// the cost of the wire from the cost of the library around it.
    /// </summary>
    public async Task LockedCallRawAsync(ByteString key)
    {
        Grpc.Core.CallOptions Options() => new(deadline: DateTime.UtcNow.AddSeconds(5));
        var connection = _client.GetConnection();
        LeaseGrantResponse lease = await connection.LeaseClient.LeaseGrantAsync(new LeaseGrantRequest { TTL = TtlSeconds }, Options()).ConfigureAwait(false);
        ByteString value = ByteString.CopyFromUtf8($"{_holder} call={Interlocked.Increment(ref _calls)}");
        TxnResponse answer = await connection.KVClient.TxnAsync(LockTransaction(key, value, lease.ID), Options()).ConfigureAwait(false);
        if (!answer.Succeeded)
        {
            throw new InvalidOperationException($"The key {key.ToStringUtf8()} was busy: the hand-written benchmark expects it free.");
        }

        await connection.LeaseClient.LeaseRevokeAsync(new LeaseRevokeRequest { ID = lease.ID }, Options()).ConfigureAwait(false);
    }

    /// <summary>(3): etcd's v3lock API: LeaseGrant, Lock(name, lease), Unlock(the key Lock returned), LeaseRevoke.</summary>
    public async Task V3LockCallAsync(ByteString name)
    {
        LeaseGrantResponse lease = await _client.LeaseGrantAsync(new LeaseGrantRequest { TTL = TtlSeconds }).ConfigureAwait(false);
        LockResponse locked = await _client.LockAsync(new LockRequest { Name = name, Lease = lease.ID }).ConfigureAwait(false);
        await _client.UnlockAsync(new UnlockRequest { Key = locked.Key }).ConfigureAwait(false);
        await _client.LeaseRevokeAsync(new LeaseRevokeRequest { ID = lease.ID }).ConfigureAwait(false);
    }

    /// <summary>(6): one plain Put, the floor of any write to etcd.</summary>
    public Task PutAsync(ByteString key, ByteString value) => _client.PutAsync(new PutRequest { Key = key, Value = value });

    public Task<LeaseGrantResponse> GrantAsync() => _client.LeaseGrantAsync(new LeaseGrantRequest { TTL = TtlSeconds });

    public Task RevokeAsync(long leaseId) => _client.LeaseRevokeAsync(new LeaseRevokeRequest { ID = leaseId });

    internal static TxnRequest LockTransaction(ByteString key, ByteString value, long leaseId)
    {
        var txn = new TxnRequest();
        txn.Compare.Add(new Compare
        {
            Key = key,
            Target = Compare.Types.CompareTarget.Version,
            Result = Compare.Types.CompareResult.Equal,
            Version = 0,
        });
        txn.Success.Add(new RequestOp { RequestPut = new PutRequest { Key = key, Value = value, Lease = leaseId } });
        txn.Failure.Add(new RequestOp { RequestRange = new RangeRequest { Key = key } });
        return txn;
    }

    public void Dispose() => _client.Dispose();
}
