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
/// Invariants (under <c>_lock</c>; no user code runs under it): a watch runs exactly while there are subscribers (or
/// until it notices there are none); <c>_position</c> is the revision up to which its events were counted, so a
/// subscriber whose read is older than that position missed events and is told at once to read again; a watch that
/// ends (failure, etcd's cancel, compaction) tells every subscriber to read again.
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

    internal sealed class Subscriber(long ticketRevision, long readRevision, int needed)
    {
        public long TicketRevision { get; } = ticketRevision;
        public long ReadRevision { get; } = readRevision;
        public int Needed { get; } = needed;
        public int Gone;
        /// <summary>Set before <see cref="Done"/> when the deletes since its read could not all be counted.</summary>
        public volatile bool Unknown;
        public readonly TaskCompletionSource Done = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    /// <summary>Subscribes a waiter; starts the watch when it is the first.</summary>
    public Subscriber Subscribe(IEtcdCalls calls, QueueRequest queue, long ticketRevision, long readRevision, int needed)
    {
        var subscriber = new Subscriber(ticketRevision, readRevision, needed);
        CancellationTokenSource? start = null;
        lock (_lock)
        {
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
                start = _watch = CancellationTokenSource.CreateLinkedTokenSource(calls.StopToken);
                _position = readRevision;
                _completeFrom = readRevision + 1;
                _recent.Clear();
            }
        }

        if (start is not null)
        {
            _ = Task.Run(() => WatchAsync(calls, queue, readRevision + 1, start));
        }

        return subscriber;
    }

    /// <summary>The waiter stopped waiting (its turn may have come, its wait ended, or it gave up).</summary>
    public void Unsubscribe(Subscriber subscriber)
    {
        lock (_lock)
        {
            _subscribers.Remove(subscriber);
            if (_subscribers.Count == 0 && _watch is not null)
            {
                _watch.Cancel();
                _watch = null;
            }
        }
    }

    private async Task WatchAsync(IEtcdCalls calls, QueueRequest queue, long startRevision, CancellationTokenSource mine)
    {
        Task<bool>? next = null;
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
                    Log.WatchEnded(calls.Logger, queue.Request.FullKey, $"etcd cancelled the semaphore's watch: {response.CancelReason}");
                    break;
                }

                Count(response);
            }
        }
        catch (Exception ex) when (!mine.IsCancellationRequested)
        {
            Log.WatchEnded(calls.Logger, queue.Request.FullKey, $"the semaphore's watch failed: {ex.Message}");
        }
        catch (Exception)
        {
            // Cancelled: no subscriber is left, or the provider was disposed.
        }
        finally
        {
            next?.ContinueWith(static t => _ = t.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted | TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
            Ended(mine);
        }
    }

    private void Count(WatchResponse response)
    {
        List<Subscriber>? done = null;
        lock (_lock)
        {
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
                        _completeFrom = _recent[RecentLimit / 2].Revision; // the older half is dropped
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

    private void Ended(CancellationTokenSource mine)
    {
        List<Subscriber> all;
        lock (_lock)
        {
            if (!ReferenceEquals(_watch, mine))
            {
                mine.Dispose();
                return; // cancelled because nobody waited; a newer watch may run already
            }

            _watch = null;
            all = new List<Subscriber>(_subscribers);
        }

        mine.Dispose();
        foreach (Subscriber s in all)
        {
            s.Unknown = true;
            s.Done.TrySetResult(); // read again (and subscribe again, which starts a new watch)
        }
    }
}
