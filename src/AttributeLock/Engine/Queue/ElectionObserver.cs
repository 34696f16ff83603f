using System.Runtime.CompilerServices;
using AttributeLock.Engine.Session;
using Etcdserverpb;
using Google.Protobuf;
using Grpc.Core;

namespace AttributeLock.Engine.Queue;

/// <summary>
/// Who leads an election, read from etcd: the candidate key with the lowest create revision under the election's
/// <c>/#leader/</c> prefix. Observing watches the prefix and reads the leader again after every event (and at the
/// periodic read interval): a watch event alone is never taken as the answer.
/// </summary>
internal sealed class ElectionObserver
{
    private readonly IEtcdCalls _calls;
    private readonly TimeSpan _recheckInterval;

    public ElectionObserver(IEtcdCalls calls, TimeSpan recheckInterval)
    {
        _calls = calls;
        _recheckInterval = recheckInterval;
    }

    /// <summary>The election's candidate prefix for a full election key.</summary>
    public static ByteString CandidatePrefix(string fullKey) => ByteString.CopyFromUtf8(fullKey + "/#leader/");

    /// <summary>Reads the leader now.</summary>
    public async ValueTask<(EtcdLeaderInfo? Leader, long Revision)> ReadAsync(ByteString prefix, CancellationToken token)
    {
        RangeResponse range = await _calls.Kv.RangeAsync(new RangeRequest
        {
            Key = prefix,
            RangeEnd = QueueRequest.PrefixEnd(prefix),
            SortTarget = RangeRequest.Types.SortTarget.Create,
            SortOrder = RangeRequest.Types.SortOrder.Ascend,
            Limit = 1,
        }, _calls.CallOptions(token)).ResponseAsync.ConfigureAwait(false);
        Mvccpb.KeyValue? kv = range.Kvs.FirstOrDefault();
        EtcdLeaderInfo? leader = kv is null ? null : new EtcdLeaderInfo(kv.Key.ToStringUtf8(), kv.Value.ToStringUtf8(), kv.CreateRevision, kv.Lease);
        return (leader, range.Header.Revision);
    }

    /// <summary>The leader now, then each change; retries while etcd cannot be reached.</summary>
    public async IAsyncEnumerable<EtcdLeaderInfo?> ObserveAsync(string fullKey, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _calls.StopToken);
        CancellationToken token = stop.Token;
        ByteString prefix = CandidatePrefix(fullKey);
        bool first = true;
        EtcdLeaderInfo? last = null;
        int failures = 0;
        while (!token.IsCancellationRequested)
        {
            (EtcdLeaderInfo? Leader, long Revision)? read = null;
            try
            {
                read = await ReadAsync(prefix, token).ConfigureAwait(false);
                failures = 0;
            }
            catch (Exception ex) when (ex is RpcException || ex is OperationCanceledException)
            {
                if (token.IsCancellationRequested)
                {
                    break; // the caller cancelled, or the provider was disposed: the stream ends (no exception)
                }

                Log.WatchEnded(_calls.Logger, fullKey, $"reading the leader failed: {ex.Message}");
            }

            if (read is { } r)
            {
                if (first || r.Leader != last)
                {
                    first = false;
                    last = r.Leader;
                    yield return r.Leader;
                }

                // Until something under the prefix changes (or the periodic read is due): then read again.
                await WaitForChangeAsync(prefix, r.Revision, token).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            }
            else
            {
                await Task.Delay(Math.Min(2000, 250 << Math.Min(failures++, 3)), token).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            }
        }
    }

    private async Task WaitForChangeAsync(ByteString prefix, long revision, CancellationToken token)
    {
        using var callCts = CancellationTokenSource.CreateLinkedTokenSource(token);
        Task<bool>? next = null;
        try
        {
            using var call = _calls.Watches.Watch(cancellationToken: callCts.Token);
            await call.RequestStream.WriteAsync(new WatchRequest
            {
                CreateRequest = new WatchCreateRequest { Key = prefix, RangeEnd = QueueRequest.PrefixEnd(prefix), StartRevision = revision + 1 },
            }, callCts.Token).ConfigureAwait(false);
            Task recheck = Task.Delay(_recheckInterval, token);
            while (true)
            {
                next = call.ResponseStream.MoveNext(callCts.Token);
                if (await Task.WhenAny(next, recheck).ConfigureAwait(false) != next || !await next.ConfigureAwait(false))
                {
                    return;
                }

                WatchResponse response = call.ResponseStream.Current;
                if (response.Canceled || response.Events.Count > 0)
                {
                    return;
                }
            }
        }
        finally
        {
            callCts.Cancel();
            next?.ContinueWith(static t => _ = t.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted | TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        }
    }
}
