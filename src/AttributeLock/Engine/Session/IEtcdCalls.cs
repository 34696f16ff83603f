using Etcdserverpb;
using Google.Protobuf;
using Grpc.Core;
using Microsoft.Extensions.Logging;

namespace AttributeLock.Engine.Session;

/// <summary>
/// What a request to etcd needs, for every primitive: the gRPC clients of the session's one connection, call options
/// bounded by the request timeout, who this session is (written into every key it holds), where it logs and counts,
/// and the token that stops its work when the provider is disposed.
/// </summary>
internal interface IEtcdCalls
{
    KV.KVClient Kv { get; }

    Lease.LeaseClient Leases { get; }

    Watch.WatchClient Watches { get; }

    /// <summary>Host name, process id and a per-provider id: the value of every key this session holds.</summary>
    string HolderId { get; }

    /// <summary><see cref="HolderId"/> in UTF-8, encoded once.</summary>
    ByteString HolderBytes { get; }

    ILogger Logger { get; }

    LockMetrics Metrics { get; }

    /// <summary>Cancelled when the provider is disposed: ends acquires in progress and background grants.</summary>
    CancellationToken StopToken { get; }

    /// <summary>Options of one request: its deadline one request timeout from now.</summary>
    CallOptions CallOptions();

    /// <summary>Options of one request that <paramref name="cancellationToken"/> cancels.</summary>
    CallOptions CallOptions(CancellationToken cancellationToken);

    /// <summary>Call options with a deadline shared by several requests (an acquire's first grant and transaction).</summary>
    CallOptions CallOptions(CancellationToken cancellationToken, DateTime? deadline);

    /// <summary>The deadline of an acquire's first attempt: its grant and transaction together get one request timeout.</summary>
    DateTime FirstAttemptDeadline();

    /// <summary>
    /// What the caller hears when etcd failed <paramref name="what"/> for <paramref name="fullKey"/>: transient or
    /// permanent, with the endpoints, the timeout and a configuration mistake met while connecting.
    /// </summary>
    EtcdLockUnavailableException Unavailable(string fullKey, string what, Exception ex);
}
