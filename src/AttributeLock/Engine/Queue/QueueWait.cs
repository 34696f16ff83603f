using System.Diagnostics;
using AttributeLock.Engine.Lock;
using AttributeLock.Engine.Session;
using Etcdserverpb;

namespace AttributeLock.Engine.Queue;

/// <summary>
/// A queued ticket waits until a blocker may have gone; then <see cref="QueueAcquire"/> reads the queue again, which
/// alone decides. A reader, a writer and a candidate wait on the one blocker just before them (no herd: one release
/// wakes the one waiter behind it, or the readers behind a writer). A semaphore ticket cannot: the ticket that leaves
/// need not be the one watched. It watches the deletes of the semaphore's tickets and reads again only once as many
/// older tickets went as its place needs (one read per waiter whose turn may have come, not one per waiter per
/// release). Every wait also ends at a periodic read interval or when its watch ends, so a stalled or dropped watch
/// (etcd-io/etcd#17529) never keeps a ticket waiting.
/// </summary>
internal sealed class QueueWait
{
    private readonly IEtcdCalls _calls;
    private readonly TimeSpan _recheckInterval;
    private readonly LockWaitForRelease _oneKey;

    public QueueWait(IEtcdCalls calls, TimeSpan recheckInterval)
    {
        _calls = calls;
        _recheckInterval = recheckInterval;
        _oneKey = new LockWaitForRelease(calls, recheckInterval);
    }

    /// <param name="queue">The acquire.</param>
    /// <param name="waitOn">The blocker just before ours (not a semaphore).</param>
    /// <param name="older">How many blockers are older than our ticket.</param>
    /// <param name="ticketRevision">Our ticket's create revision.</param>
    /// <param name="revision">The revision the queue was read at: the watch starts after it.</param>
    /// <param name="token">Ends the wait.</param>
    /// <returns>How many older tickets were seen deleted (a semaphore's; 0 otherwise).</returns>
    public async Task<int> WaitAsync(QueueRequest queue, Mvccpb.KeyValue? waitOn, int older, long ticketRevision, long revision, CancellationToken token)
    {
        if (queue.Kind != QueueKind.Semaphore)
        {
            if (waitOn is not null)
            {
                await _oneKey.WaitAsync(waitOn.Key.ToStringUtf8(), waitOn.Key, revision, waitOn.CreateRevision, token).ConfigureAwait(false);
            }

            return 0;
        }

        return await WaitForDeletesAsync(queue, needed: Math.Max(1, older - queue.MaxCount + 1), ticketRevision, revision, token).ConfigureAwait(false);
    }

    private async Task<int> WaitForDeletesAsync(QueueRequest queue, int needed, long ticketRevision, long revision, CancellationToken token)
    {
        long waitStart = Stopwatch.GetTimestamp();
        using var callCts = CancellationTokenSource.CreateLinkedTokenSource(token);
        Task<bool>? next = null;
        int gone = 0;
        try
        {
            using var call = _calls.Watches.Watch(cancellationToken: callCts.Token);
            await call.RequestStream.WriteAsync(new WatchRequest
            {
                CreateRequest = new WatchCreateRequest
                {
                    Key = queue.BlockersFrom,
                    RangeEnd = queue.BlockersEnd,
                    StartRevision = revision + 1,
                    PrevKv = true,
                    Filters = { WatchCreateRequest.Types.FilterType.Noput },
                },
            }, callCts.Token).ConfigureAwait(false);

            // A ticket far back in a long queue reads again less often (its turn is far), and the reads of many waiters
            // are spread out: up to 6 intervals, +0-50 % at random.
            double stretch = Math.Min(6, 1 + (needed - 1) / (double)queue.MaxCount) * (1 + Random.Shared.NextDouble() / 2);
            Task recheck = Task.Delay(_recheckInterval * stretch, token);
            while (true)
            {
                next ??= call.ResponseStream.MoveNext(callCts.Token);
                Task finished = await Task.WhenAny(next, recheck).ConfigureAwait(false);
                token.ThrowIfCancellationRequested();
                if (finished != next || !await next.ConfigureAwait(false))
                {
                    return gone; // the periodic read is due, or the watch ended: read the queue again
                }

                next = null;
                WatchResponse response = call.ResponseStream.Current;
                if (response.Canceled)
                {
                    Log.WatchEnded(_calls.Logger, queue.Request.FullKey, $"etcd cancelled the watch: {response.CancelReason}");
                    return gone;
                }

                foreach (Mvccpb.Event e in response.Events)
                {
                    // Without its previous value we cannot tell whether the ticket was older: count it (the read decides).
                    if (e.Type == Mvccpb.Event.Types.EventType.Delete && (e.PrevKv is null || e.PrevKv.CreateRevision < ticketRevision))
                    {
                        gone++;
                    }
                }

                if (gone >= needed)
                {
                    return gone;
                }
            }
        }
        catch (Exception ex) when (!token.IsCancellationRequested && ex is not OperationCanceledException)
        {
            Log.WatchEnded(_calls.Logger, queue.Request.FullKey, $"the watch failed: {ex.Message}");
            return gone;
        }
        finally
        {
            callCts.Cancel();
            next?.ContinueWith(static t => _ = t.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted | TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
            _calls.Metrics.WaitDuration.Record(Stopwatch.GetElapsedTime(waitStart).TotalMilliseconds);
        }
    }
}
