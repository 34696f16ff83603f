using System.Threading.Channels;
using Etcdserverpb;
using Grpc.Core;
using Microsoft.Extensions.Logging;

namespace AttributeLock.Engine;

/// <summary>
/// Watches the keys of this provider's holds on one multiplexed watch stream, so that a key deleted or overwritten
/// behind a holder's back (an operator's <c>etcdctl del</c>, a buggy writer) is a lost hold, not a silent second holder.
/// </summary>
/// <remarks>
/// <list type="bullet">
/// <item>A hold is watched from its first renewal on (TTL/3 after the grant): most calls end before that and cost no
/// watch at all. The watch starts at the key's create revision + 1, so a change made before the watch was created is
/// still seen, as history.</item>
/// <item>We never write a held key after creating it, so every event on it is foreign: a DELETE (also what lease
/// expiry produces) or a PUT is a loss.</item>
/// <item>Watch ids are chosen by us (<c>watch_id</c>, etcd ≥ 3.4), so answers map to holds without ordering assumptions.
/// One writer task per stream sends the create and cancel requests (gRPC streams allow one writer).</item>
/// <item>A failed or ended stream is re-opened (after a short pause) and every watch re-created from its start
/// revision. A create that etcd has not confirmed within the request timeout (a write lost on a connection that died
/// under it) also re-opens the stream: a watch is never silently missing. A watch cancelled by compaction is replaced by a read: the key must still carry our create revision and
/// lease, and is then watched again from the read's revision.</item>
/// <item>The loop and its writer run with no caller's ExecutionContext.</item>
/// </list>
/// </remarks>
internal sealed class KeyWatcher : IAsyncDisposable
{
    private static readonly TimeSpan s_reopenPause = TimeSpan.FromMilliseconds(500);

    private readonly Watch.WatchClient _client;
    private readonly KV.KVClient _kv;
    private readonly ILogger _logger;
    private readonly Func<CallOptions> _callOptions;
    private readonly object _gate = new();
    private readonly Dictionary<long, (LockHold Hold, long From)> _watched = new();
    // Creates sent on the current stream and not yet confirmed by etcd, with when they were queued.
    private readonly Dictionary<long, long> _unconfirmed = new();
    private readonly TimeSpan _confirmTimeout;
    private readonly CancellationTokenSource _stop = new();
    private Channel<WatchRequest>? _outbox;
    private Task? _loop;
    private long _nextId;

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

    public void Add(LockHold hold) => Add(hold, hold.FencingToken + 1);

    private void Add(LockHold hold, long fromRevision)
    {
        lock (_gate)
        {
            if (_stop.IsCancellationRequested || hold.State == HoldState.Released)
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

    public void Remove(LockHold hold)
    {
        lock (_gate)
        {
            long id = hold.WatchId;
            _unconfirmed.Remove(id);
            if (id != 0 && _watched.Remove(id))
            {
                _outbox?.Writer.TryWrite(new WatchRequest { CancelRequest = new WatchCancelRequest { WatchId = id } });
            }
        }
    }

    private static WatchRequest CreateRequest(long id, LockHold hold, long fromRevision) => new()
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
        LockHold? hold;
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
            hold.MarkLost(e.Type == Mvccpb.Event.Types.EventType.Delete
                ? $"the key was deleted behind the holder's back at revision {e.Kv.ModRevision} (by another client, or its lease ended in etcd)"
                : $"the key was overwritten by another writer at revision {e.Kv.ModRevision}");
            Remove(hold);
            return;
        }

        if (response.Canceled)
        {
            // Compacted past our start revision, or refused: fall back to reading the key.
            Remove(hold);
            _ = RecheckAsync(hold);
        }
    }

    private async Task RecheckAsync(LockHold hold)
    {
        try
        {
            RangeResponse range = await _kv.RangeAsync(new RangeRequest { Key = hold.KeyBytes }, _callOptions()).ConfigureAwait(false);
            Mvccpb.KeyValue? kv = range.Kvs.Count == 1 ? range.Kvs[0] : null;
            if (kv is not null && kv.CreateRevision == hold.FencingToken && kv.ModRevision == hold.FencingToken && kv.Lease == hold.LeaseId)
            {
                Add(hold, range.Header.Revision + 1);
            }
            else
            {
                hold.MarkLost(kv is null
                    ? "the key was found deleted when its watch was re-created"
                    : "the key was found overwritten when its watch was re-created");
            }
        }
        catch (Exception ex) when (!_stop.IsCancellationRequested)
        {
            // Cannot read now: try the watch again later from the same start; lease loss is watched independently.
            Log.KeyWatchStreamEnded(_logger, $"re-reading {hold.Key} failed: {ex.Message}");
            await Task.Delay(s_reopenPause).ConfigureAwait(false);
            Add(hold, hold.FencingToken + 1);
        }
        catch (Exception)
        {
        }
    }

    public async ValueTask DisposeAsync()
    {
        Task? loop;
        lock (_gate)
        {
            _stop.Cancel();
            _watched.Clear();
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
