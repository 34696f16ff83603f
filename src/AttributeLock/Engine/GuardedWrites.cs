using Etcdserverpb;
using Grpc.Core;

namespace AttributeLock.Engine;

/// <summary>
/// Writes that etcd applies only while a hold owns its key. The ownership check happens inside etcd, in the write's
/// own transaction, so it holds whatever the client's clock or pauses: a lease alone cannot give that (etcd's docs,
/// Jepsen's etcd 3.4.3 analysis).
/// </summary>
internal static class GuardedWrites
{
    public static Compare OwnershipComparison(LockHold hold) => new()
    {
        Key = hold.KeyBytes,
        Target = Compare.Types.CompareTarget.Create,
        Result = Compare.Types.CompareResult.Equal,
        CreateRevision = hold.FencingToken,
    };

    public static async Task<TxnResponse> WriteAsync(LockHold hold, IEnumerable<RequestOp> operations, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(operations);
        var txn = new TxnRequest();
        txn.Compare.Add(OwnershipComparison(hold));
        txn.Success.AddRange(operations);
        txn.Failure.Add(new RequestOp { RequestRange = new RangeRequest { Key = hold.KeyBytes } });
        EtcdLockProvider provider = hold.Provider;
        TxnResponse answer;
        try
        {
            CallOptions options = provider.CallOptions().WithCancellationToken(cancellationToken);
            answer = await provider.Kv.TxnAsync(txn, options).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is RpcException or OperationCanceledException)
        {
            cancellationToken.ThrowIfCancellationRequested();
            throw provider.Unavailable(hold.Key, "the guarded write", ex);
        }

        if (answer.Succeeded)
        {
            return answer;
        }

        Mvccpb.KeyValue? current = answer.Responses.Count > 0 ? answer.Responses[0].ResponseRange?.Kvs.FirstOrDefault() : null;
        hold.MarkLost(current is null
            ? "a guarded write found the key gone"
            : $"a guarded write found the key held with fencing token {current.CreateRevision}");
        throw new EtcdLockNotHeldException(hold.Key, hold.FencingToken, current?.Value.ToStringUtf8(), current?.CreateRevision);
    }
}
