using dotnet_etcd;
using Etcdserverpb;
using Google.Protobuf;
using Grpc.Core;

namespace OrderService.Journal;

/// <summary>The few plain etcd calls the sample's store, journal and coordinator need (not the lock: that is AttributeLock's job).</summary>
public sealed class EtcdKv : IDisposable
{
    private readonly EtcdClient _client;
    private readonly KV.KVClient _kv;
    private readonly Lease.LeaseClient _leases;
    private readonly Watch.WatchClient _watch;

    /// <summary>Connects to <paramref name="endpoints"/> (comma-separated URLs).</summary>
    /// <param name="endpoints">The etcd endpoints.</param>
    public EtcdKv(string endpoints)
    {
        Endpoints = endpoints;
        _client = new EtcdClient(endpoints);
        var connection = _client.GetConnection();
        _kv = connection.KVClient;
        _leases = connection.LeaseClient;
        _watch = connection.WatchClient;
    }

    /// <summary>The endpoints connected to.</summary>
    public string Endpoints { get; }

    private static CallOptions Options(CancellationToken ct) => new(deadline: DateTime.UtcNow.AddSeconds(10), cancellationToken: ct);

    /// <summary>Reads one key.</summary>
    /// <param name="key">The key.</param>
    /// <param name="ct">Cancels the call.</param>
    /// <returns>The key-value, or <c>null</c> when the key does not exist.</returns>
    public async Task<Mvccpb.KeyValue?> GetAsync(string key, CancellationToken ct = default)
    {
        RangeResponse r = await _kv.RangeAsync(new RangeRequest { Key = ByteString.CopyFromUtf8(key) }, Options(ct));
        return r.Kvs.Count == 0 ? null : r.Kvs[0];
    }

    /// <summary>Writes one key.</summary>
    /// <param name="key">The key.</param>
    /// <param name="value">The value.</param>
    /// <param name="ct">Cancels the call.</param>
    /// <returns>The revision of the write.</returns>
    public async Task<long> PutAsync(string key, string value, CancellationToken ct = default)
    {
        PutResponse r = await _kv.PutAsync(new PutRequest { Key = ByteString.CopyFromUtf8(key), Value = ByteString.CopyFromUtf8(value) }, Options(ct));
        return r.Header.Revision;
    }

    /// <summary>A put of one key, for a transaction (a guarded write's operations).</summary>
    /// <param name="key">The key.</param>
    /// <param name="value">The value.</param>
    /// <returns>The operation.</returns>
    public static RequestOp Put(string key, string value) =>
        new() { RequestPut = new PutRequest { Key = ByteString.CopyFromUtf8(key), Value = ByteString.CopyFromUtf8(value) } };

    /// <summary>Writes several keys in one transaction, unconditionally: all of them at one revision, or none.</summary>
    /// <param name="puts">The keys and values.</param>
    /// <returns>The revision of the writes.</returns>
    public async Task<long> PutAllAsync(params (string Key, string Value)[] puts)
    {
        var txn = new TxnRequest();
        foreach ((string key, string value) in puts)
        {
            txn.Success.Add(Put(key, value));
        }

        // No compare: the transaction always takes the success branch. Not cancellable on purpose: once the
        // holder decided to write, the data and its journal entry go together.
        TxnResponse r = await _kv.TxnAsync(txn, Options(CancellationToken.None));
        return r.Header.Revision;
    }

    /// <summary>
    /// Reads all keys from <paramref name="from"/> (inclusive) up to the end of <paramref name="prefix"/>, in key order,
    /// page by page, all pages at one revision.
    /// </summary>
    /// <param name="prefix">The range's prefix.</param>
    /// <param name="from">The first key to read; <c>null</c> reads the whole prefix.</param>
    /// <param name="atRevision">Read at this revision; 0 reads the latest.</param>
    /// <param name="ct">Cancels the call.</param>
    /// <returns>The key-values and the revision they were read at.</returns>
    public async Task<(List<Mvccpb.KeyValue> Kvs, long Revision)> RangeAsync(string prefix, string? from = null, long atRevision = 0, CancellationToken ct = default)
    {
        var all = new List<Mvccpb.KeyValue>();
        ByteString end = PrefixEnd(prefix);
        ByteString start = ByteString.CopyFromUtf8(from ?? prefix);
        while (true)
        {
            RangeResponse r = await _kv.RangeAsync(new RangeRequest { Key = start, RangeEnd = end, Limit = 1000, Revision = atRevision }, Options(ct));
            if (atRevision == 0)
            {
                // The header names the store's latest revision: the one a read without a revision saw.
                atRevision = r.Header.Revision;
            }

            all.AddRange(r.Kvs);
            if (!r.More || r.Kvs.Count == 0)
            {
                return (all, atRevision);
            }

            // Continue right after the last key: append a zero byte.
            start = ByteString.CopyFrom([.. r.Kvs[^1].Key.ToByteArray(), 0]);
        }
    }

    /// <summary>
    /// Watches the puts below <paramref name="prefix"/> from <paramref name="fromRevision"/> on, in revision order, until
    /// <paramref name="ct"/> is cancelled or the watch fails (then it throws: re-watch from the last revision seen + 1).
    /// </summary>
    /// <param name="prefix">The prefix.</param>
    /// <param name="fromRevision">The first revision to deliver.</param>
    /// <param name="onPut">Called for every put, in order.</param>
    /// <param name="ct">Ends the watch.</param>
    /// <returns>A task that completes when the watch ends.</returns>
    public async Task WatchPutsAsync(string prefix, long fromRevision, Action<Mvccpb.KeyValue> onPut, CancellationToken ct)
    {
        using AsyncDuplexStreamingCall<WatchRequest, WatchResponse> call = _watch.Watch(cancellationToken: ct);
        await call.RequestStream.WriteAsync(new WatchRequest
        {
            CreateRequest = new WatchCreateRequest { Key = ByteString.CopyFromUtf8(prefix), RangeEnd = PrefixEnd(prefix), StartRevision = fromRevision },
        }, ct);
        while (await call.ResponseStream.MoveNext(ct))
        {
            WatchResponse response = call.ResponseStream.Current;
            if (response.Canceled)
            {
                throw new InvalidOperationException($"etcd cancelled the watch: {response.CancelReason}");
            }

            foreach (Mvccpb.Event e in response.Events)
            {
                if (e.Type == Mvccpb.Event.Types.EventType.Put)
                {
                    onPut(e.Kv);
                }
            }
        }

        throw new InvalidOperationException("The watch stream ended.");
    }

    /// <summary>The remaining TTL of a lease in seconds; -1 when it has expired or was revoked.</summary>
    /// <param name="leaseId">The lease.</param>
    /// <param name="ct">Cancels the call.</param>
    /// <returns>The seconds left.</returns>
    public async Task<long> LeaseTtlAsync(long leaseId, CancellationToken ct = default)
    {
        LeaseTimeToLiveResponse r = await _leases.LeaseTimeToLiveAsync(new LeaseTimeToLiveRequest { ID = leaseId }, Options(ct));
        return r.TTL;
    }

    private static ByteString PrefixEnd(string prefix)
    {
        byte[] end = System.Text.Encoding.UTF8.GetBytes(prefix);
        for (int i = end.Length - 1; i >= 0; i--)
        {
            if (end[i] < 0xFF)
            {
                end[i]++;
                return ByteString.CopyFrom(end, 0, i + 1);
            }
        }

        return ByteString.CopyFrom(0);
    }

    /// <inheritdoc />
    public void Dispose() => _client.Dispose();
}
