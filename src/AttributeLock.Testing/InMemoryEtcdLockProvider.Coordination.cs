using System.Globalization;
using System.Runtime.CompilerServices;
using AttributeLock.Engine;
using Google.Protobuf;

namespace AttributeLock.Testing;

// Semaphores, reader-writer locks and elections: the engine's etcd layout (tickets as keys under the primitive's key,
// ordered by create revision) kept in memory, with the same admission rules, under the same one lock as the locks.
public sealed partial class InMemoryEtcdLockProvider
{
    private readonly Dictionary<string, TicketQueue> _queues = new(StringComparer.Ordinal);

    /// <summary>
    /// Acquires one of the <paramref name="maxCount"/> places of the semaphore <paramref name="key"/>, first come, first
    /// served, with the engine's rules (see <see cref="IEtcdLockProvider.AcquireSemaphoreAsync"/>). The handle's
    /// <see cref="EtcdLockHandle.Key"/> is the ticket's key, <c>{prefix}{key}/#sem/{ticket id}</c>, as in etcd.
    /// </summary>
    /// <param name="key">The semaphore's key (without the provider's key prefix).</param>
    /// <param name="maxCount">How many holders at most, at least 1; the same for every caller.</param>
    /// <param name="options">Time to live and wait timeout; <see cref="EtcdLockOptions.HoldAtLeast"/> is refused (locks only).</param>
    /// <param name="cancellationToken">Ends the wait; the ticket is removed.</param>
    /// <returns>The handle of the ticket; dispose it to give the place back.</returns>
    /// <exception cref="EtcdLockTimeoutException">The wait timeout passed while all places were taken.</exception>
    /// <exception cref="InvalidOperationException">A ticket of the semaphore was taken with another <paramref name="maxCount"/>.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    public ValueTask<EtcdLockHandle> AcquireSemaphoreAsync(string key, int maxCount, EtcdLockOptions? options = null, CancellationToken cancellationToken = default) =>
        AcquireTicketAsync(key, TicketKind.Semaphore, maxCount, options, Timeout.InfiniteTimeSpan, throwWhenBusy: true, cancellationToken)!;

    /// <summary>Tries to acquire a place of the semaphore <paramref name="key"/>: one attempt unless the options ask for a wait.</summary>
    /// <param name="key">The semaphore's key (without the provider's key prefix).</param>
    /// <param name="maxCount">How many holders at most, at least 1; the same for every caller.</param>
    /// <param name="options">Time to live and wait timeout; <c>null</c> makes one attempt.</param>
    /// <param name="cancellationToken">Ends the attempt.</param>
    /// <returns>The handle of the ticket, or <c>null</c> when all places are taken (the ticket is removed).</returns>
    /// <exception cref="InvalidOperationException">A ticket of the semaphore was taken with another <paramref name="maxCount"/>.</exception>
    public ValueTask<EtcdLockHandle?> TryAcquireSemaphoreAsync(string key, int maxCount, EtcdLockOptions? options = null, CancellationToken cancellationToken = default) =>
        AcquireTicketAsync(key, TicketKind.Semaphore, maxCount, options, TimeSpan.Zero, throwWhenBusy: false, cancellationToken);

    /// <summary>
    /// Acquires the read side of the reader-writer lock <paramref name="key"/>: beside other readers, after every older
    /// writer (see <see cref="IEtcdLockProvider.AcquireReadLockAsync"/>). The handle's key is <c>{prefix}{key}/#rw/r/{ticket id}</c>.
    /// </summary>
    /// <param name="key">The lock's key (without the provider's key prefix).</param>
    /// <param name="options">Time to live and wait timeout; <see cref="EtcdLockOptions.HoldAtLeast"/> is refused (locks only).</param>
    /// <param name="cancellationToken">Ends the wait; the reader's key is removed.</param>
    /// <returns>The handle of the read hold.</returns>
    /// <exception cref="EtcdLockTimeoutException">The wait timeout passed while a writer had or waited for the lock.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    public ValueTask<EtcdLockHandle> AcquireReadLockAsync(string key, EtcdLockOptions? options = null, CancellationToken cancellationToken = default) =>
        AcquireTicketAsync(key, TicketKind.Reader, 0, options, Timeout.InfiniteTimeSpan, throwWhenBusy: true, cancellationToken)!;

    /// <summary>Tries to acquire the read side of the reader-writer lock <paramref name="key"/>.</summary>
    /// <param name="key">The lock's key (without the provider's key prefix).</param>
    /// <param name="options">Time to live and wait timeout; <c>null</c> makes one attempt.</param>
    /// <param name="cancellationToken">Ends the attempt.</param>
    /// <returns>The handle of the read hold, or <c>null</c> when a writer has or waits for the lock.</returns>
    public ValueTask<EtcdLockHandle?> TryAcquireReadLockAsync(string key, EtcdLockOptions? options = null, CancellationToken cancellationToken = default) =>
        AcquireTicketAsync(key, TicketKind.Reader, 0, options, TimeSpan.Zero, throwWhenBusy: false, cancellationToken);

    /// <summary>
    /// Acquires the write side of the reader-writer lock <paramref name="key"/>: alone, after every older reader and
    /// writer (see <see cref="IEtcdLockProvider.AcquireWriteLockAsync"/>). The handle's key is <c>{prefix}{key}/#rw/w/{ticket id}</c>.
    /// </summary>
    /// <param name="key">The lock's key (without the provider's key prefix).</param>
    /// <param name="options">Time to live and wait timeout; <see cref="EtcdLockOptions.HoldAtLeast"/> is refused (locks only).</param>
    /// <param name="cancellationToken">Ends the wait; the writer's key is removed.</param>
    /// <returns>The handle of the write hold.</returns>
    /// <exception cref="EtcdLockTimeoutException">The wait timeout passed while others had or waited for the lock.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    public ValueTask<EtcdLockHandle> AcquireWriteLockAsync(string key, EtcdLockOptions? options = null, CancellationToken cancellationToken = default) =>
        AcquireTicketAsync(key, TicketKind.Writer, 0, options, Timeout.InfiniteTimeSpan, throwWhenBusy: true, cancellationToken)!;

    /// <summary>Tries to acquire the write side of the reader-writer lock <paramref name="key"/>.</summary>
    /// <param name="key">The lock's key (without the provider's key prefix).</param>
    /// <param name="options">Time to live and wait timeout; <c>null</c> makes one attempt.</param>
    /// <param name="cancellationToken">Ends the attempt.</param>
    /// <returns>The handle of the write hold, or <c>null</c> when others have or wait for the lock.</returns>
    public ValueTask<EtcdLockHandle?> TryAcquireWriteLockAsync(string key, EtcdLockOptions? options = null, CancellationToken cancellationToken = default) =>
        AcquireTicketAsync(key, TicketKind.Writer, 0, options, TimeSpan.Zero, throwWhenBusy: false, cancellationToken);

    /// <summary>
    /// Campaigns in the election <paramref name="election"/> and returns once this caller leads: candidates lead in the
    /// order they campaigned (see <see cref="IEtcdLockProvider.CampaignAsync"/>). The handle's key is
    /// <c>{prefix}{election}/#leader/{ticket id}</c>; dispose it to resign (the next candidate leads at once).
    /// </summary>
    /// <param name="election">The election's key (without the provider's key prefix).</param>
    /// <param name="options">Time to live and wait timeout; <see cref="EtcdLockOptions.HoldAtLeast"/> is refused (locks only).</param>
    /// <param name="cancellationToken">Ends the campaign; the candidate's key is removed.</param>
    /// <returns>The leadership.</returns>
    /// <exception cref="EtcdLockTimeoutException">The wait timeout passed while another candidate led.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    public ValueTask<EtcdLockHandle> CampaignAsync(string election, EtcdLockOptions? options = null, CancellationToken cancellationToken = default) =>
        AcquireTicketAsync(election, TicketKind.Candidate, 0, options, Timeout.InfiniteTimeSpan, throwWhenBusy: true, cancellationToken)!;

    /// <summary>Who leads the election <paramref name="election"/> now (this provider's candidates and those campaigning elsewhere).</summary>
    /// <param name="election">The election's key (without the provider's key prefix).</param>
    /// <param name="cancellationToken">Ends the read.</param>
    /// <returns>The leader (its <see cref="EtcdLeaderInfo.Holder"/> is <see cref="InMemoryEtcdLockProviderOptions.HolderId"/>
    /// or the name given to <see cref="CampaignElsewhere"/>), or <c>null</c> when no candidate leads.</returns>
    public ValueTask<EtcdLeaderInfo?> GetLeaderAsync(string election, CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        string fullKey = LockKeys.Build(_options.KeyPrefix, election, _options.MaxKeyBytes, out _);
        cancellationToken.ThrowIfCancellationRequested();
        lock (_gate)
        {
            return new ValueTask<EtcdLeaderInfo?>(Leader(Queue(fullKey, TicketKind.Candidate)));
        }
    }

    /// <summary>
    /// Who leads the election <paramref name="election"/>: the leader now (or <c>null</c>), then each change, never the
    /// same value twice in a row. The stream ends (without an exception) when <paramref name="cancellationToken"/> is
    /// cancelled or the provider is disposed.
    /// </summary>
    /// <param name="election">The election's key (without the provider's key prefix).</param>
    /// <param name="cancellationToken">Ends the stream.</param>
    /// <returns>The leaders, as they change.</returns>
    public IAsyncEnumerable<EtcdLeaderInfo?> ObserveLeaderAsync(string election, CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        string fullKey = LockKeys.Build(_options.KeyPrefix, election, _options.MaxKeyBytes, out _);
        return ObserveLeaderCoreAsync(fullKey, cancellationToken);
    }

    private async IAsyncEnumerable<EtcdLeaderInfo?> ObserveLeaderCoreAsync(string fullKey, CancellationToken callerToken, [EnumeratorCancellation] CancellationToken enumeratorToken = default)
    {
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(callerToken, enumeratorToken);
        bool first = true;
        EtcdLeaderInfo? last = null;
        while (true)
        {
            EtcdLeaderInfo? now;
            Task changed;
            lock (_gate)
            {
                if (_disposed)
                {
                    yield break;
                }

                TicketQueue queue = Queue(fullKey, TicketKind.Candidate);
                now = Leader(queue);
                changed = queue.Changed.Task;
            }

            if (first || now != last)
            {
                first = false;
                last = now;
                yield return now;
            }

            await changed.WaitAsync(linked.Token).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            if (linked.IsCancellationRequested)
            {
                yield break;
            }
        }
    }

    /// <summary>
    /// Makes the hold behind <paramref name="handle"/> lost, as when its lease expires in etcd: its
    /// <see cref="EtcdLockHandle.LostToken"/> fires (on a thread of its own, as in the engine) and its key is gone at once:
    /// a lock's key is free, a semaphore's place, a read or write hold, or a leadership passes to the next in line. The
    /// owner still disposes the handle. Works for every kind of hold of this provider.
    /// </summary>
    /// <param name="handle">A handle this provider gave out (a nested handle stands for its outer hold).</param>
    /// <param name="reason">Why, for <see cref="Losses"/>.</param>
    /// <returns><c>true</c> when a hold was made lost; <c>false</c> when it had ended already or is not this provider's.</returns>
    public bool LoseHoldOf(EtcdLockHandle handle, string reason = "the test made the hold lost")
    {
        ArgumentNullException.ThrowIfNull(handle);
        if (handle.Hold is not InMemoryHold hold || !ReferenceEquals(hold.Provider, this))
        {
            return false;
        }

        lock (_gate)
        {
            if (hold.Ticket is { } ticket)
            {
                if (!ticket.IsQueued || !ReferenceEquals(ticket.Hold, hold))
                {
                    return false;
                }

                hold.MarkLost(reason);
                RemoveTicket(ticket);
                return true;
            }

            if (!_keys.TryGetValue(hold.Key, out KeyState? state) || !ReferenceEquals(state.Holder, hold))
            {
                return false;
            }

            state.Holder = null;
            hold.MarkLost(reason);
            WakeNext(hold.Key);
            return true;
        }
    }

    /// <summary>
    /// Puts a ticket in the semaphore <paramref name="key"/> as another process would, until the returned object is
    /// disposed: it takes a place when one is free, otherwise it waits in line like any other (and takes a place later).
    /// </summary>
    /// <param name="key">The semaphore's key (without the provider's key prefix).</param>
    /// <param name="maxCount">The MaxCount the other process passes.</param>
    /// <param name="holder">What <see cref="EtcdLockTimeoutException.Holder"/> names.</param>
    /// <returns>Dispose it to remove the ticket.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="maxCount"/> is less than 1.</exception>
    /// <exception cref="InvalidOperationException">A ticket of the semaphore was taken with another <paramref name="maxCount"/>.</exception>
    public IDisposable HoldSemaphoreElsewhere(string key, int maxCount, string holder = "another process") =>
        PutElsewhere(key, TicketKind.Semaphore, maxCount, holder);

    /// <summary>Puts a reader in the reader-writer lock <paramref name="key"/> as another process would (it reads when no older writer exists), until disposed.</summary>
    /// <param name="key">The lock's key (without the provider's key prefix).</param>
    /// <param name="holder">What <see cref="EtcdLockTimeoutException.Holder"/> names.</param>
    /// <returns>Dispose it to remove the reader.</returns>
    public IDisposable HoldReadLockElsewhere(string key, string holder = "another process") =>
        PutElsewhere(key, TicketKind.Reader, 0, holder);

    /// <summary>Puts a writer in the reader-writer lock <paramref name="key"/> as another process would (it writes when no older ticket exists), until disposed.</summary>
    /// <param name="key">The lock's key (without the provider's key prefix).</param>
    /// <param name="holder">What <see cref="EtcdLockTimeoutException.Holder"/> names.</param>
    /// <returns>Dispose it to remove the writer.</returns>
    public IDisposable HoldWriteLockElsewhere(string key, string holder = "another process") =>
        PutElsewhere(key, TicketKind.Writer, 0, holder);

    /// <summary>
    /// Puts a candidate in the election <paramref name="election"/> as another process would (it leads when no older
    /// candidate exists), until disposed: disposing it resigns.
    /// </summary>
    /// <param name="election">The election's key (without the provider's key prefix).</param>
    /// <param name="holder">The leader's <see cref="EtcdLeaderInfo.Holder"/> while it leads.</param>
    /// <returns>Dispose it to remove the candidate.</returns>
    public IDisposable CampaignElsewhere(string election, string holder = "another process") =>
        PutElsewhere(election, TicketKind.Candidate, 0, holder);

    private IDisposable PutElsewhere(string key, TicketKind kind, int maxCount, string holder)
    {
        ArgumentNullException.ThrowIfNull(holder);
        string fullKey = LockKeys.Build(_options.KeyPrefix, key, _options.MaxKeyBytes, out _);
        if (kind == TicketKind.Semaphore)
        {
            CheckMaxCount(maxCount);
        }

        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            TicketQueue queue = Queue(fullKey, kind);
            CheckSameMaxCount(queue, maxCount);
            InMemoryTicket ticket = PutTicket(queue, kind, maxCount, ttl: _options.DefaultTtlSeconds, holder, elsewhere: true);
            Advance(queue);
            return new ElsewhereTicket(this, ticket);
        }
    }

    private sealed class ElsewhereTicket(InMemoryEtcdLockProvider owner, InMemoryTicket ticket) : IDisposable
    {
        private int _disposed;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _disposed, 1) != 0)
            {
                return;
            }

            lock (owner._gate)
            {
                if (ticket.IsQueued)
                {
                    owner.RemoveTicket(ticket);
                }
            }
        }
    }

    private async ValueTask<EtcdLockHandle?> AcquireTicketAsync(string key, TicketKind kind, int maxCount, EtcdLockOptions? options, TimeSpan defaultWait, bool throwWhenBusy, CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        string fullKey = LockKeys.Build(_options.KeyPrefix, key, _options.MaxKeyBytes, out _);
        if (kind == TicketKind.Semaphore)
        {
            CheckMaxCount(maxCount);
        }

        (int ttl, TimeSpan wait) = LockKeys.Options(options, _options.DefaultTtlSeconds, defaultWait);
        if (options?.HoldAtLeast is { } minimum)
        {
            throw new ArgumentException(
                $"EtcdLockOptions.HoldAtLeast ({minimum}) is for locks only; semaphores, reader-writer locks and elections do not keep their keys after a release.",
                nameof(options));
        }

        cancellationToken.ThrowIfCancellationRequested();
        TimeProvider clock = _options.TimeProvider;
        long start = clock.GetTimestamp();
        InMemoryTicket ticket;
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            TicketQueue queue = Queue(fullKey, kind);
            CheckSameMaxCount(queue, maxCount);
            ticket = PutTicket(queue, kind, maxCount, ttl, _options.HolderId, elsewhere: false);
            ticket.Turn = new TaskCompletionSource<InMemoryHold>(TaskCreationOptions.RunContinuationsAsynchronously);
            Advance(queue);
            if (ticket.Hold is { } hold)
            {
                _acquisitions.Add(Recorded(kind, fullKey, LockAcquisitionOutcome.Acquired, hold.FencingToken, ttl, wait));
                return new EtcdLockHandle(hold, isNested: false);
            }

            if (wait == TimeSpan.Zero)
            {
                string holder = queue.Blocker(ticket)?.Holder ?? _options.HolderId;
                RemoveTicket(ticket);
                _acquisitions.Add(Recorded(kind, fullKey, LockAcquisitionOutcome.Busy, null, ttl, wait));
                return throwWhenBusy ? throw new EtcdLockTimeoutException(fullKey, holder, clock.GetElapsedTime(start)) : null;
            }
        }

        bool timed = wait > TimeSpan.Zero && wait <= TimeSpan.FromMilliseconds(uint.MaxValue - 2);
        using var timeout = timed ? new CancellationTokenSource(wait, clock) : null;
        using var linked = timeout is not null ? CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timeout.Token) : null;
        try
        {
            InMemoryHold hold = await ticket.Turn.Task.WaitAsync(linked?.Token ?? cancellationToken).ConfigureAwait(false);
            lock (_gate)
            {
                _acquisitions.Add(Recorded(kind, fullKey, LockAcquisitionOutcome.Acquired, hold.FencingToken, ttl, wait));
            }

            return new EtcdLockHandle(hold, isNested: false);
        }
        catch (OperationCanceledException)
        {
            string holder;
            lock (_gate)
            {
                holder = (ticket.IsQueued ? ticket.Queue.Blocker(ticket)?.Holder : null) ?? _options.HolderId;
                if (ticket.IsQueued)
                {
                    // Still waiting, or admitted just as we gave up: either way the ticket goes and the line moves on.
                    RemoveTicket(ticket);
                }

                ticket.Hold?.MarkReleased();
                bool cancelled = cancellationToken.IsCancellationRequested;
                _acquisitions.Add(Recorded(kind, fullKey, cancelled ? LockAcquisitionOutcome.Cancelled : LockAcquisitionOutcome.Busy, null, ttl, wait));
                if (cancelled)
                {
                    throw new OperationCanceledException("The acquisition was cancelled.", cancellationToken);
                }
            }

            return throwWhenBusy ? throw new EtcdLockTimeoutException(fullKey, holder, clock.GetElapsedTime(start)) : null;
        }
    }

    /// <summary>What <see cref="Acquisitions"/> keeps of one acquire of a ticket (its key: the primitive's full key).</summary>
    private static LockAcquisition Recorded(TicketKind kind, string fullKey, LockAcquisitionOutcome outcome, long? fencingToken, int ttl, TimeSpan wait) =>
        new(fullKey, outcome, fencingToken, ttl, wait)
        {
            Kind = kind switch
            {
                TicketKind.Semaphore => LockAcquisitionKind.Semaphore,
                TicketKind.Reader => LockAcquisitionKind.ReadLock,
                TicketKind.Writer => LockAcquisitionKind.WriteLock,
                _ => LockAcquisitionKind.Campaign,
            },
        };

    private static void CheckMaxCount(int maxCount)
    {
        if (maxCount < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(maxCount), maxCount, "A semaphore's MaxCount must be at least 1.");
        }
    }

    // Under _gate: every ticket of one semaphore must have been taken with the same MaxCount.
    private static void CheckSameMaxCount(TicketQueue queue, int maxCount)
    {
        foreach (InMemoryTicket other in queue.Tickets)
        {
            if (other.MaxCount != maxCount)
            {
                throw new InvalidOperationException(
                    $"The semaphore '{queue.FullKey}' has a ticket taken with MaxCount {other.MaxCount} (by '{other.Holder}'), but this acquire asked for MaxCount {maxCount}: every caller of one semaphore must pass the same value.");
            }
        }
    }

    // Under _gate: the queue of the primitive's tickets (readers and writers share one).
    private TicketQueue Queue(string fullKey, TicketKind kind)
    {
        string prefix = fullKey + kind switch
        {
            TicketKind.Semaphore => "/#sem/",
            TicketKind.Candidate => "/#leader/",
            _ => "/#rw/",
        };
        if (!_queues.TryGetValue(prefix, out TicketQueue? queue))
        {
            queue = new TicketQueue(fullKey, prefix);
            _queues.Add(prefix, queue);
        }

        return queue;
    }

    // Under _gate: a ticket put on a lease of its own, at a new revision (its create revision, the fencing token).
    private InMemoryTicket PutTicket(TicketQueue queue, TicketKind kind, int maxCount, int ttl, string holder, bool elsewhere)
    {
        long leaseId = Interlocked.Increment(ref _leaseIds);
        string key = queue.TicketPrefix + kind switch
        {
            TicketKind.Reader => "r/",
            TicketKind.Writer => "w/",
            _ => "",
        } + leaseId.ToString("x16", CultureInfo.InvariantCulture);
        var ticket = new InMemoryTicket(queue, kind, key, ByteString.CopyFromUtf8(key), ++_revision, leaseId, ttl, maxCount, holder, elsewhere);
        queue.Tickets.Add(ticket);
        return ticket;
    }

    // Under _gate: the ticket leaves (released, lost, given up, or removed elsewhere); the line moves on.
    private void RemoveTicket(InMemoryTicket ticket)
    {
        ticket.IsQueued = false;
        ticket.Queue.Tickets.Remove(ticket);
        Advance(ticket.Queue);
    }

    // Under _gate: admits every ticket the rules now admit (a local one gets its hold, handed to its waiter, which
    // resumes asynchronously), then tells leader observers that the queue changed.
    private void Advance(TicketQueue queue)
    {
        foreach (InMemoryTicket ticket in queue.Tickets)
        {
            if (ticket.IsAdmitted || queue.Blocker(ticket) is not null)
            {
                continue;
            }

            ticket.IsAdmitted = true;
            if (!ticket.IsElsewhere)
            {
                var hold = new InMemoryHold(this, ticket.Key, ticket.KeyBytes, ticket.LeaseId, ticket.TtlSeconds, ticket.CreateRevision, _options.TimeProvider.GetTimestamp(), TimeSpan.Zero, ticket);
                ticket.Hold = hold;
                ticket.Turn?.TrySetResult(hold);
            }
        }

        TaskCompletionSource changed = queue.Changed;
        queue.Changed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        changed.TrySetResult();
    }

    // Under _gate: the oldest candidate leads.
    private static EtcdLeaderInfo? Leader(TicketQueue queue) =>
        queue.Tickets.Count == 0 ? null : Info(queue.Tickets[0]);

    private static EtcdLeaderInfo Info(InMemoryTicket leader) => new(leader.Key, leader.Holder, leader.CreateRevision, leader.LeaseId);

    // Under _gate, from DisposeAsync: this provider's holds are lost, its waiters fail, its tickets go (their leases are
    // revoked); tickets put elsewhere stay. Leader observers wake up and end.
    private void DisposeTickets()
    {
        foreach (TicketQueue queue in _queues.Values)
        {
            foreach (InMemoryTicket ticket in queue.Tickets.ToArray())
            {
                if (ticket.IsElsewhere)
                {
                    continue;
                }

                if (ticket.Hold is { } hold)
                {
                    hold.MarkLost("the lock provider was disposed while the hold was held");
                }
                else
                {
                    ticket.Turn?.TrySetException(new ObjectDisposedException(nameof(InMemoryEtcdLockProvider)));
                }

                ticket.IsQueued = false;
                queue.Tickets.Remove(ticket);
            }

            Advance(queue);
        }
    }
}
