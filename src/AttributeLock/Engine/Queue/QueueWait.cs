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
/// release); the deletes are watched once per process for all its waiters (<see cref="SharedDeletes"/>). Every wait also
/// ends at a periodic read interval or when its watch ends, so a stalled or dropped watch (etcd-io/etcd#17529) never
/// keeps a ticket waiting.
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
    /// <param name="family">This process's places of the primitive (a semaphore's shared watch of deletes).</param>
    /// <param name="waitOn">The blocker just before ours (not a semaphore).</param>
    /// <param name="older">How many blockers are older than our ticket.</param>
    /// <param name="ticketRevision">Our ticket's create revision.</param>
    /// <param name="revision">The revision the queue was read at: the watch starts after it.</param>
    /// <param name="token">Ends the wait.</param>
    /// <returns>Why the wait ended (a semaphore's; <see cref="Wake.Timeout"/> otherwise).</returns>
    public async Task<Wake> WaitAsync(QueueRequest queue, LocalPlaces.Family family, Mvccpb.KeyValue? waitOn, int older, long ticketRevision, long revision, CancellationToken token)
    {
        if (queue.Kind != QueueKind.Semaphore)
        {
            if (waitOn is not null)
            {
                await _oneKey.WaitAsync(waitOn.Key.ToStringUtf8(), waitOn.Key, revision, waitOn.CreateRevision, token).ConfigureAwait(false);
            }

            return Wake.Timeout;
        }

        return await WaitForDeletesAsync(queue, family, needed: Math.Max(1, older - queue.MaxCount + 1), ticketRevision, revision, token).ConfigureAwait(false);
    }

    /// <summary>Why a semaphore's wait ended.</summary>
    public enum Wake
    {
        /// <summary>The periodic read interval passed.</summary>
        Timeout,

        /// <summary>As many older tickets as its place needed were seen deleted since the read it counted from.</summary>
        Count,

        /// <summary>The deletes since that read cannot be counted (compacted, or older than what the watch kept).</summary>
        Unknown,

        /// <summary>The watch ended; the next one counts the deletes since that read anew.</summary>
        Restart,
    }

    private async Task<Wake> WaitForDeletesAsync(QueueRequest queue, LocalPlaces.Family family, int needed, long ticketRevision, long revision, CancellationToken token)
    {
        long waitStart = Stopwatch.GetTimestamp();
        SharedDeletes.Subscriber subscriber = family.Deletes.Subscribe(_calls, queue, ticketRevision, revision, needed);
        try
        {
            // A ticket far back in a long queue reads again less often (its turn is far), and the periodic reads of many
            // waiters are spread out: up to 2 intervals, +0-50 % at random.
            double stretch = Math.Min(2, 1 + (needed - 1) / (double)queue.MaxCount) * (1 + Random.Shared.NextDouble() / 2);
            await subscriber.Done.Task.WaitAsync(_recheckInterval * stretch, token).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            token.ThrowIfCancellationRequested();
            return !subscriber.Done.Task.IsCompleted ? Wake.Timeout : subscriber.Unknown ? Wake.Unknown : subscriber.Restart ? Wake.Restart : Wake.Count;
        }
        finally
        {
            family.Deletes.Unsubscribe(subscriber);
            _calls.Metrics.WaitDuration.Record(Stopwatch.GetElapsedTime(waitStart).TotalMilliseconds);
        }
    }
}
