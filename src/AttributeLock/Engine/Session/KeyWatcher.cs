using System.Threading.Channels;
using Etcdserverpb;
using Grpc.Core;
using Microsoft.Extensions.Logging;

namespace AttributeLock.Engine.Session;

/// <summary>
/// Checks that the keys of this provider's holds are still theirs, by two independent means: one multiplexed watch
/// stream (a DELETE or PUT event on a held key is reported within milliseconds) and a batched read of the held keys
/// on every hold's renewal cadence (TTL/3), which does not depend on the watch at all. A key deleted, overwritten or
/// taken over behind a holder's back (an operator's <c>etcdctl del</c>, a buggy writer, a restore) is a lost hold,
/// not a silent second holder.
/// </summary>
/// <remarks>
/// Why both: etcd's watch can drop events. When many watches on one stream are behind (created from an old revision,
/// or re-created after a stream reset or an etcd restart) and etcd compacts past them, etcd 3.4 (3.4.23 tested here;
/// etcd-io/etcd#17529, #18089, fixed upstream in 2024) may move them to "synced" without the compaction cancel and never send the
/// events in between. So:
/// <list type="bullet">
/// <item>A hold is checked from its first renewal on (TTL/3 after the grant; most calls end before that and cost
/// nothing here): each renewal queues it for the batched read (<see cref="OnRenewalDue"/>), up to
/// <see cref="MaxReadsPerTransaction"/> keys per read-only transaction (no consensus round). The key must still carry
/// the hold's create revision (its fencing token), lease and an unchanged mod revision; anything else is a loss.</item>
/// <item>Watches are created only from a fresh read: at revision + 1 of the read that found the key intact, so a new
/// watch is never behind. A re-opened stream first reads every watched key, then re-creates the watches from that
/// read's revision. A watch cancelled by compaction goes back through the read.</item>
/// <item>We never write a held key after creating it, so every event on it is foreign: a DELETE (also what lease
/// expiry produces) or a PUT is a loss.</item>
/// <item>Watch ids are chosen by us (<c>watch_id</c>, etcd ≥ 3.4), so answers map to holds without ordering assumptions.
/// One writer task per stream sends the create and cancel requests (gRPC streams allow one writer). A create that etcd
/// has not confirmed within the request timeout re-opens the stream.</item>
/// <item>The loops run with no caller's ExecutionContext. No user code runs here: a loss only flips the hold's state
/// and queues its signal (<see cref="SignalThreads"/>).</item>
/// </list>
/// </remarks>
internal sealed class KeyWatcher : IAsyncDisposable
{
    private static readonly TimeSpan s_reopenPause = TimeSpan.FromMilliseconds(500);

    /// <summary>etcd's default <c>--max-txn-ops</c>; halved for good when a server says it allows fewer.</summary>
    internal const int MaxReadsPerTransaction = 128;

    // At most this many batched reads in flight at once (a re-opened stream with thousands of watched keys).
    private const int ParallelReads = 4;

    private readonly Watch.WatchClient _client;
    private readonly KV.KVClient _kv;
    private readonly ILogger _logger;
    private readonly Func<CallOptions> _callOptions;
    private readonly object _gate = new();
    private readonly Dictionary<long, (IHeldKey Hold, long From)> _watched = new();
    // Creates sent on the current stream and not yet confirmed by etcd, with when they were queued.
    private readonly Dictionary<long, long> _unconfirmed = new();
    private readonly TimeSpan _confirmTimeout;
    private readonly CancellationTokenSource _stop = new();
    private Channel<WatchRequest>? _outbox;
    private Task? _loop;
    private long _nextId;
    // Holds due for the batched read (under _gate), and whether a drain of them is running.
    private readonly HashSet<IHeldKey> _readDue = new();
    private bool _reading;
    private int _readsPerTransaction = MaxReadsPerTransaction;

    public KeyWatcher(Watch.WatchClient client, KV.KVClient kv, ILogger logger, Func<CallOptions> callOptions, TimeSpan confirmTimeout)
    {
        _confirmTimeout = confirmTimeout;
        _client = client;
        _kv = kv;
        _logger = logger;
        _callOptions = callOptions;
    }

    public int Count
    {
        get { lock (_gate) { return _watched.Count; } }
    }

    /// <summary>
    /// A renewal of <paramref name="hold"/>'s lease is being sent: its key is read (batched with others) and, when found
    /// intact and not watched yet, watched from that read on.
    /// </summary>
    public void OnRenewalDue(IHeldKey hold)
    {
        bool start;
        lock (_gate)
        {
            if (_stop.IsCancellationRequested || !_readDue.Add(hold))
            {
                return;
            }

            start = !_reading;
            _reading = true;
        }

        if (start)
        {
            using (ExecutionContext.SuppressFlow())
            {
                _ = Task.Run(DrainReadsAsync);
            }
        }
    }

    /// <summary>Reads every hold queued by <see cref="OnRenewalDue"/>, in batches, until none is left.</summary>
    private async Task DrainReadsAsync()
    {
        while (true)
        {
            IHeldKey[] due;
            lock (_gate)
            {
                if (_readDue.Count == 0 || _stop.IsCancellationRequested)
                {
                    _reading = false;
                    return;
                }

                due = _readDue.ToArray();
                _readDue.Clear();
            }

            try
            {
                foreach ((IHeldKey hold, long revision) in await ReadHeldKeysAsync(due).ConfigureAwait(false))
                {
                    if (!IsWatched(hold))
                    {
                        Add(hold, revision + 1);
                    }
                }
            }
            catch (Exception ex) when (!_stop.IsCancellationRequested)
            {
                // etcd cannot be read now: the next renewal queues these holds again, and the lease's deadline is
                // watched independently (a hold whose renewals fail too is lost at its deadline).
                Log.HeldKeyReadFailed(_logger, due.Length, ex.Message);
            }
            catch (Exception)
            {
                lock (_gate)
                {
                    _reading = false;
                }

                return;
            }
        }
    }

    private bool IsWatched(IHeldKey hold)
    {
        lock (_gate)
        {
            return hold.WatchId != 0 && _watched.ContainsKey(hold.WatchId);
        }
    }

    /// <summary>
    /// Reads the keys of <paramref name="holds"/> in batched read-only transactions and declares lost every hold whose
    /// key is gone, taken over, overwritten or detached from its lease.
    /// </summary>
    /// <returns>The holds found intact, each with the revision of the read that found it so.</returns>
    /// <exception cref="Exception">A read failed (etcd unreachable): nothing is known about the holds not returned.</exception>
    private async Task<List<(IHeldKey Hold, long Revision)>> ReadHeldKeysAsync(IReadOnlyList<IHeldKey> holds)
    {
        var intact = new List<(IHeldKey, long)>(holds.Count);
        var live = holds.Where(h => h.State == HoldState.Held).ToList();
        int offset = 0;
        while (offset < live.Count)
        {
            int size = _readsPerTransaction;
            var batches = new List<(int Start, int Count)>();
            for (int i = 0; i < ParallelReads && offset < live.Count; i++)
            {
                int count = Math.Min(size, live.Count - offset);
                batches.Add((offset, count));
                offset += count;
            }

            TxnResponse[] answers;
            try
            {
                answers = await Task.WhenAll(batches.Select(b => _kv.TxnAsync(ReadTransaction(live, b.Start, b.Count), _callOptions()).ResponseAsync)).ConfigureAwait(false);
            }
            catch (RpcException ex) when (ex.StatusCode == StatusCode.InvalidArgument && size > 1 && ex.Status.Detail.Contains("too many operations", StringComparison.Ordinal))
            {
                // The server's --max-txn-ops is below ours: smaller batches from now on, and these again.
                _readsPerTransaction = Math.Max(1, size / 2);
                offset = batches[0].Start;
                continue;
            }

            for (int b = 0; b < batches.Count; b++)
            {
                TxnResponse answer = answers[b];
                long revision = answer.Header.Revision;
                for (int i = 0; i < batches[b].Count; i++)
                {
                    IHeldKey hold = live[batches[b].Start + i];
                    Mvccpb.KeyValue? kv = answer.Responses[i].ResponseRange.Kvs.FirstOrDefault();
                    string? loss = HeldKeyLoss(hold, kv, revision);
                    if (loss is null)
                    {
                        intact.Add((hold, revision));
                    }
                    else
                    {
                        Remove(hold);
                        hold.MarkLost(loss);
                    }
                }
            }
        }

        return intact;
    }

    private static TxnRequest ReadTransaction(List<IHeldKey> holds, int start, int count)
    {
        var txn = new TxnRequest();
        for (int i = start; i < start + count; i++)
        {
            txn.Success.Add(new RequestOp { RequestRange = new RangeRequest { Key = holds[i].KeyBytes, KeysOnly = true } });
        }

        return txn;
    }

    /// <summary>Why the key as read shows the hold lost, or null when the key is still exactly as the hold created it.</summary>
    internal static string? HeldKeyLoss(IHeldKey hold, Mvccpb.KeyValue? kv, long revision)
    {
        if (kv is null)
        {
            return $"a read of the held keys at revision {revision} found the key deleted (by another client, or its lease ended in etcd)";
        }

        if (kv.CreateRevision != hold.FencingToken)
        {
            return $"a read of the held keys at revision {revision} found the key held by another holder (fencing token {kv.CreateRevision}, lease {kv.Lease})";
        }

        if (kv.Lease != hold.LeaseId || kv.ModRevision != hold.FencingToken)
        {
            hold.MarkOverwrittenInPlace();
            return $"a read of the held keys at revision {revision} found the key overwritten by another writer at revision {kv.ModRevision} (lease {kv.Lease} instead of {hold.LeaseId})";
        }

        return null;
    }

    private void Add(IHeldKey hold, long fromRevision)
    {
        lock (_gate)
        {
            if (_stop.IsCancellationRequested || hold.State != HoldState.Held || (hold.WatchId != 0 && _watched.ContainsKey(hold.WatchId)))
            {
                return;
            }

            long id = ++_nextId;
            hold.WatchId = id;
            _watched[id] = (hold, fromRevision);
            if (_outbox is not null)
            {
                _unconfirmed[id] = System.Diagnostics.Stopwatch.GetTimestamp();
                _outbox.Writer.TryWrite(CreateRequest(id, hold, fromRevision));
            }
            if (_loop is null)
            {
                using (ExecutionContext.SuppressFlow())
                {
                    _loop = Task.Run(RunAsync);
                }
            }
        }
    }

    public void Remove(IHeldKey hold)
    {
        lock (_gate)
        {
            long id = hold.WatchId;
            _readDue.Remove(hold);
            _unconfirmed.Remove(id);
            if (id != 0 && _watched.Remove(id))
            {
                _outbox?.Writer.TryWrite(new WatchRequest { CancelRequest = new WatchCancelRequest { WatchId = id } });
            }
        }
    }

    private static WatchRequest CreateRequest(long id, IHeldKey hold, long fromRevision) => new()
    {
        CreateRequest = new WatchCreateRequest { Key = hold.KeyBytes, StartRevision = fromRevision, WatchId = id },
    };

    private async Task RunAsync()
    {
        CancellationToken stop = _stop.Token;
        while (!stop.IsCancellationRequested)
        {
            var outbox = Channel.CreateUnbounded<WatchRequest>(new UnboundedChannelOptions { SingleReader = true });
            using var streamCts = CancellationTokenSource.CreateLinkedTokenSource(stop);
            try
            {
                using AsyncDuplexStreamingCall<WatchRequest, WatchResponse> call = _client.Watch(cancellationToken: streamCts.Token);
                await ReadBeforeWatchingAsync().ConfigureAwait(false);
                lock (_gate)
                {
                    _outbox = outbox;
                    _unconfirmed.Clear();
                    long now = System.Diagnostics.Stopwatch.GetTimestamp();
                    foreach (var (id, (hold, from)) in _watched)
                    {
                        _unconfirmed[id] = now;
                        outbox.Writer.TryWrite(CreateRequest(id, hold, from));
                    }
                }

                _ = WriteAsync(call, outbox, streamCts.Token);
                _ = ConfirmOrReopenAsync(streamCts);
                while (await call.ResponseStream.MoveNext(streamCts.Token).ConfigureAwait(false))
                {
                    Handle(call.ResponseStream.Current);
                }

                Log.KeyWatchStreamEnded(_logger, "the stream ended");
            }
            catch (Exception ex) when (!stop.IsCancellationRequested)
            {
                Log.KeyWatchStreamEnded(_logger, ex.Message);
            }
            catch (Exception)
            {
                break;
            }
            finally
            {
                streamCts.Cancel();
                lock (_gate)
                {
                    if (_outbox == outbox)
                    {
                        _outbox = null;
                    }
                }

                outbox.Writer.TryComplete();
            }

            try
            {
                await Task.Delay(s_reopenPause, stop).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                break;
            }
        }
    }

    /// <summary>
    /// Before the watches are (re-)created on a new stream: reads every watched key, declares lost the holds whose key
    /// changed, and moves the others' start revision to the read's revision + 1, so that no watch is created behind
    /// (etcd-io/etcd#17529). A failed read fails the stream's opening: it is tried again after a pause.
    /// </summary>
    private async Task ReadBeforeWatchingAsync()
    {
        IHeldKey[] watched;
        lock (_gate)
        {
            watched = _watched.Values.Select(w => w.Hold).ToArray();
        }

        if (watched.Length == 0)
        {
            return;
        }

        foreach ((IHeldKey hold, long revision) in await ReadHeldKeysAsync(watched).ConfigureAwait(false))
        {
            lock (_gate)
            {
                if (_watched.TryGetValue(hold.WatchId, out var entry) && ReferenceEquals(entry.Hold, hold) && entry.From <= revision)
                {
                    _watched[hold.WatchId] = (hold, revision + 1);
                }
            }
        }
    }

    /// <summary>Cancels the stream when a create stays unconfirmed longer than the request timeout.</summary>
    private async Task ConfirmOrReopenAsync(CancellationTokenSource streamCts)
    {
        long limit = (long)(_confirmTimeout.TotalSeconds * System.Diagnostics.Stopwatch.Frequency);
        CancellationToken token = streamCts.Token;
        try
        {
            while (!token.IsCancellationRequested)
            {
                await Task.Delay(TimeSpan.FromMilliseconds(500), token).ConfigureAwait(false);
                bool stale;
                lock (_gate)
                {
                    long now = System.Diagnostics.Stopwatch.GetTimestamp();
                    stale = _unconfirmed.Values.Any(sent => now - sent > limit);
                }

                if (stale)
                {
                    Log.KeyWatchStreamEnded(_logger, "a watch was not confirmed in time");
                    try
                    {
                        streamCts.Cancel();
                    }
                    catch (ObjectDisposedException)
                    {
                        // The stream ended meanwhile.
                    }

                    return;
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    private static async Task WriteAsync(AsyncDuplexStreamingCall<WatchRequest, WatchResponse> call, Channel<WatchRequest> outbox, CancellationToken stop)
    {
        try
        {
            await foreach (WatchRequest request in outbox.Reader.ReadAllAsync(stop).ConfigureAwait(false))
            {
                await call.RequestStream.WriteAsync(request, stop).ConfigureAwait(false);
            }
        }
        catch (Exception)
        {
            // The reader sees the broken stream and re-opens it; requests not written are re-sent from _watched.
        }
    }

    private void Handle(WatchResponse response)
    {
        IHeldKey? hold;
        lock (_gate)
        {
            if (response.Created || response.Canceled)
            {
                _unconfirmed.Remove(response.WatchId);
            }

            hold = _watched.TryGetValue(response.WatchId, out var entry) ? entry.Hold : null;
        }

        if (hold is null)
        {
            return;
        }

        foreach (Mvccpb.Event e in response.Events)
        {
            bool deleted = e.Type == Mvccpb.Event.Types.EventType.Delete;
            if (!deleted && e.Kv.CreateRevision == hold.FencingToken)
            {
                hold.MarkOverwrittenInPlace();
            }

            Remove(hold);
            hold.MarkLost(deleted
                ? $"the key was deleted behind the holder's back at revision {e.Kv.ModRevision} (by another client, or its lease ended in etcd)"
                : $"the key was overwritten by another writer at revision {e.Kv.ModRevision}");
            return;
        }

        if (response.Canceled)
        {
            // Compacted past our start revision, or refused: the key is read, and watched again from that read.
            Remove(hold);
            OnRenewalDue(hold);
        }
    }

    public async ValueTask DisposeAsync()
    {
        Task? loop;
        lock (_gate)
        {
            _stop.Cancel();
            _watched.Clear();
            _readDue.Clear();
            loop = _loop;
        }

        if (loop is not null)
        {
            try
            {
                await loop.ConfigureAwait(false);
            }
            catch (Exception)
            {
            }
        }
    }
}
