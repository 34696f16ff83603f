using AttributeLock.Engine.Session;
using Etcdserverpb;

namespace AttributeLock.Engine.Queue;

/// <summary>
/// One watch of a semaphore's deletes for all the waiters of this process (etcd delivers each delete once per process,
/// not once per waiter: with a thousand waiters, per-waiter watches fell behind and the queue moved only at the
/// periodic reads). Each waiter subscribes with its ticket's create revision, the revision it read the queue at, and
/// how many older tickets must go before its turn may have come; the watch counts, per subscriber, the deletes of
/// tickets older than its own after its read, and tells it when enough went. The waiter then reads again: the count
/// never admits anyone.
/// </summary>
/// <remarks>
/// Invariants (under <c>_lock</c>; no user code runs under it): a watch runs while there are subscribers, and for
/// <see cref="Linger"/> after the last one left (waiters leave and come back at every read; a watch stopped and started
/// anew in between would have no history for their older reads); <c>_position</c> is the revision up to which its
/// events were counted, and the deletes counted are kept from <c>_completeFrom</c> on, so a subscriber whose read is
/// older than the position is caught up from them, or, older than what is kept, told that its deletes cannot be
/// counted (<see cref="Subscriber.Unknown"/>). A watch that fails or that etcd cancels wakes every subscriber; they
/// subscribe again and the next watch starts from the oldest of their reads, after a backoff when watches keep
/// failing; only a compaction past those reads makes them unknown. Only the current watch counts.
/// </remarks>
internal sealed class SharedDeletes
{
    private readonly object _lock = new();
    private readonly List<Subscriber> _subscribers = new();
    private CancellationTokenSource? _watch;
    private long _position;
    // The deletes counted so far (revision, create revision of the deleted ticket; 0: unknown), complete from revision
    // _completeFrom on: a subscriber whose read is older than _position is caught up from them instead of reading
    // again (under churn every waiter would otherwise read again at every subscription: a storm of reads).
    private readonly List<(long Revision, long Created)> _recent = new();
    private long _completeFrom;
    private const int RecentLimit = 8192;
    // The oldest read of the subscribers woken by the last watch's end (0: none), and when it was set: the next watch
    // started within Linger of it starts there (later, those waiters have come back or left).
    private long _restartFrom;
    private long _restartSetAt;
    // Whether the current watch has sent its creation yet: until then a subscriber with an older read moves its start
    // back instead of being told its deletes cannot be counted (waiters still in their read when a watch ended).
    private bool _watchSent;
    // Bumped by every subscription: a linger stops the watch only if nobody subscribed since it began.
    private long _generation;
    // Watches in a row that ended within a second of their start: the next one waits (250 ms doubling to 5 s).
    private int _failures;

    /// <summary>How long a watch outlives its last subscriber (see the remarks).</summary>
    internal static readonly TimeSpan Linger = TimeSpan.FromSeconds(2);

    internal sealed class Subscriber(long ticketRevision, long readRevision, int needed)
    {
        public long TicketRevision { get; } = ticketRevision;
        public long ReadRevision { get; } = readRevision;
        public int Needed { get; } = needed;
        public int Gone;
        /// <summary>Set before <see cref="Done"/> when the deletes since its read cannot all be counted.</summary>
        public volatile bool Unknown;
        /// <summary>Set before <see cref="Done"/> when the watch ended: subscribe again (from the same read).</summary>
        public volatile bool Restart;
        public readonly TaskCompletionSource Done = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    /// <summary>Subscribes a waiter; starts the watch when it is the first.</summary>
    public Subscriber Subscribe(IEtcdCalls calls, QueueRequest queue, long ticketRevision, long readRevision, int needed)
    {
        var subscriber = new Subscriber(ticketRevision, readRevision, needed);
        CancellationTokenSource? start = null;
        TimeSpan backoff = TimeSpan.Zero;
        lock (_lock)
        {
            _generation++;
            if (calls.StopToken.IsCancellationRequested)
            {
                subscriber.Done.TrySetResult(); // the provider stops: no new watch
                return subscriber;
            }

            if (_watch is not null && !_watchSent && readRevision < _position)
            {
                // The watch has not been created yet (its start waits out a backoff): start it early enough for us.
                _position = readRevision;
                _completeFrom = readRevision + 1;
            }

            if (_watch is not null && _position > readRevision)
            {
                if (readRevision + 1 < _completeFrom)
                {
                    subscriber.Unknown = true;
                    subscriber.Done.TrySetResult(); // events after its read were counted without it and are gone: read again
                    return subscriber;
                }

                // Catch up from the deletes counted since its read.
                foreach ((long revision, long created) in _recent)
                {
                    if (revision > readRevision && (created == 0 || created < ticketRevision))
                    {
                        subscriber.Gone++;
                    }
                }

                if (subscriber.Gone >= needed)
                {
                    subscriber.Done.TrySetResult();
                    return subscriber;
                }
            }

            _subscribers.Add(subscriber);
            if (_watch is null)
            {
                bool restart = _restartFrom > 0 && System.Diagnostics.Stopwatch.GetElapsedTime(_restartSetAt) < Linger;
                long from = restart ? Math.Min(_restartFrom, readRevision) : readRevision;
                _restartFrom = 0;
                start = _watch = CancellationTokenSource.CreateLinkedTokenSource(calls.StopToken);
                _watchSent = false;
                _position = from;
                _completeFrom = from + 1;
                _recent.Clear();
                backoff = _failures == 0 ? TimeSpan.Zero : TimeSpan.FromMilliseconds(Math.Min(5000, 250 << Math.Min(_failures - 1, 5)));
            }
        }

        if (start is not null)
        {
            _ = Task.Run(async () =>
            {
                if (backoff > TimeSpan.Zero)
                {
                    await Task.Delay(backoff, start.Token).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
                }

                long startRevision;
                lock (_lock)
                {
                    if (ReferenceEquals(_watch, start))
                    {
                        _watchSent = true;
                    }

                    startRevision = _completeFrom; // moved back by subscribers with older reads while it waited
                }

                if (start.IsCancellationRequested)
                {
                    Ended(start, historyFrom: 0, shortLived: false); // stopped during its backoff: open nothing
                    return;
                }

                await WatchAsync(calls, queue, startRevision, start).ConfigureAwait(false);
            });
        }

        return subscriber;
    }

    /// <summary>The waiter stopped waiting (its turn may have come, its wait ended, or it gave up).</summary>
    public void Unsubscribe(Subscriber subscriber)
    {
        lock (_lock)
        {
            _subscribers.Remove(subscriber);
            if (_subscribers.Count == 0 && _watch is { } watch)
            {
                _ = StopUnlessUsedAsync(watch, _generation);
            }
        }
    }

    /// <summary>Stops the watch after <see cref="Linger"/> unless a subscriber came back meanwhile.</summary>
    private async Task StopUnlessUsedAsync(CancellationTokenSource watch, long generation)
    {
        try
        {
            await Task.Delay(Linger, watch.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            return; // the watch ended (the provider stopped, or it failed): Ended handles it
        }
        catch (ObjectDisposedException)
        {
            return;
        }

        lock (_lock)
        {
            if (_subscribers.Count > 0 || _generation != generation || !ReferenceEquals(_watch, watch))
            {
                return; // used since (a later unsubscription times its own linger), or replaced
            }

            _watch = null;
            watch.Cancel();
        }
    }

    private async Task WatchAsync(IEtcdCalls calls, QueueRequest queue, long startRevision, CancellationTokenSource mine)
    {
        Task<bool>? next = null;
        long historyFrom = 0; // the oldest revision whose deletes a watch can still give (0: all)
        long started = System.Diagnostics.Stopwatch.GetTimestamp();
        try
        {
            using var call = calls.Watches.Watch(cancellationToken: mine.Token);
            await call.RequestStream.WriteAsync(new WatchRequest
            {
                CreateRequest = new WatchCreateRequest
                {
                    Key = queue.BlockersFrom,
                    RangeEnd = queue.BlockersEnd,
                    StartRevision = startRevision,
                    PrevKv = true,
                    // One revision may delete more tickets than an answer may carry (gRPC refuses over 4 MB): etcd
                    // splits it into fragments, each counted as it comes.
                    Fragment = true,
                    Filters = { WatchCreateRequest.Types.FilterType.Noput },
                },
            }, mine.Token).ConfigureAwait(false);
            while (!mine.IsCancellationRequested)
            {
                next = call.ResponseStream.MoveNext(mine.Token);
                if (!await next.ConfigureAwait(false))
                {
                    break;
                }

                next = null;
                WatchResponse response = call.ResponseStream.Current;
                if (response.Canceled)
                {
                    historyFrom = response.CompactRevision; // > 0: the revisions it was to start from are compacted
                    Log.WatchEnded(calls.Logger, queue.Request.FullKey, $"etcd cancelled the semaphore's watch: {response.CancelReason}{(historyFrom > 0 ? $" (compacted up to revision {historyFrom})" : "")}");
                    break;
                }

                Count(mine, response);
            }
        }
        catch (Exception ex) when (!mine.IsCancellationRequested)
        {
            // An answer too large even so: the next watch would fail at the same revision; the waiters count anew.
            historyFrom = ex is Grpc.Core.RpcException { StatusCode: Grpc.Core.StatusCode.ResourceExhausted } ? long.MaxValue : 0;
            Log.WatchEnded(calls.Logger, queue.Request.FullKey, $"the semaphore's watch failed: {ex.Message}");
        }
        catch (Exception)
        {
            // Cancelled: no subscriber is left, or the provider was disposed.
        }
        finally
        {
            next?.ContinueWith(static t => _ = t.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted | TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
            Ended(mine, historyFrom, shortLived: System.Diagnostics.Stopwatch.GetElapsedTime(started) < TimeSpan.FromSeconds(1));
        }
    }

    private void Count(CancellationTokenSource mine, WatchResponse response)
    {
        List<Subscriber>? done = null;
        lock (_lock)
        {
            if (!ReferenceEquals(_watch, mine))
            {
                return; // stopped already: a newer watch may count the same deletes
            }

            foreach (Mvccpb.Event e in response.Events)
            {
                long revision = e.Kv?.ModRevision ?? response.Header.Revision;
                foreach (Subscriber s in _subscribers)
                {
                    // Without its previous value we cannot tell whether the ticket was older: count it (the read decides).
                    if (revision > s.ReadRevision && (e.PrevKv is null || e.PrevKv.CreateRevision < s.TicketRevision) && ++s.Gone == s.Needed)
                    {
                        (done ??= new List<Subscriber>()).Add(s);
                    }
                }

                _position = Math.Max(_position, revision);
                if (e.Type == Mvccpb.Event.Types.EventType.Delete)
                {
                    _recent.Add((revision, e.PrevKv?.CreateRevision ?? 0));
                    if (_recent.Count > RecentLimit)
                    {
                        // The older half is dropped: complete only after the last dropped revision (one revision can
                        // delete several tickets, so some of its deletes may be on either side).
                        _completeFrom = _recent[RecentLimit / 2 - 1].Revision + 1;
                        _recent.RemoveRange(0, RecentLimit / 2);
                    }
                }
            }
        }

        if (done is not null)
        {
            foreach (Subscriber s in done)
            {
                s.Done.TrySetResult();
            }
        }
    }

    /// <param name="mine">The watch that ended.</param>
    /// <param name="historyFrom">The oldest revision a new watch can start from (0: any): a subscriber whose read is older cannot be counted.</param>
    /// <param name="shortLived">Whether it ended within a second of its start.</param>
    private void Ended(CancellationTokenSource mine, long historyFrom, bool shortLived)
    {
        List<Subscriber> all;
        lock (_lock)
        {
            if (!shortLived)
            {
                _failures = 0; // a watch that ran (stopped by its linger too) ends the streak
            }

            if (!ReferenceEquals(_watch, mine))
            {
                mine.Dispose();
                return; // cancelled because nobody waited; a newer watch may run already
            }

            _watch = null;
            // A stream that keeps failing (refused, or dropped right after its creation) must not become a loop of
            // reads by every waiter: the next watch after a short-lived one waits.
            // (A watch refused as compacted is not a failure: the next one starts from reads etcd still has.)
            if (shortLived && (historyFrom == 0 || historyFrom == long.MaxValue))
            {
                _failures++;
            }

            all = new List<Subscriber>(_subscribers);
            long[] countable = all.Where(s => s.ReadRevision + 1 >= historyFrom).Select(s => s.ReadRevision).ToArray();
            _restartFrom = countable.Length == 0 ? 0 : countable.Min();
            _restartSetAt = System.Diagnostics.Stopwatch.GetTimestamp();
        }

        mine.Dispose();
        foreach (Subscriber s in all)
        {
            // Read again and subscribe again: the next watch starts from the oldest of their reads (so each one's
            // deletes are counted anew), unless etcd compacted them away.
            bool lost = s.ReadRevision + 1 < historyFrom;
            s.Unknown = lost;
            s.Restart = !lost;
            s.Done.TrySetResult();
        }
    }
}
