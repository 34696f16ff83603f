using System.Collections.Concurrent;
using AttributeLock.Engine;
using Etcdserverpb;
using Google.Protobuf;

namespace AttributeLock.Testing;

/// <summary>
/// An <see cref="IEtcdLockProvider"/> that keeps its locks in this process, for unit tests of services that use
/// <see cref="EtcdLockAttribute"/> or the provider directly, without an etcd server. It has the engine's semantics:
/// exclusion per key, first come first served, wait timeouts (<see cref="EtcdLockTimeoutException"/>), single attempts
/// (<c>null</c>), skip-when-busy wrappers, cancellation, strictly increasing fencing tokens, not reentrant for direct
/// calls, nested generated wrappers, the same argument checks and exceptions. Semaphores, reader-writer locks and
/// elections keep the engine's layout (one ticket key per holder or waiter under the primitive's key, e.g.
/// <c>{key}/#sem/{lease id:x16}</c>) and its rules: first come, first served across all waiters by the revision that put
/// each ticket; a waiting writer holds back the readers that come after it; the oldest candidate leads. Tests can make a hold be lost
/// (<see cref="LoseHold"/>), make a key busy as if another process held it (<see cref="HoldElsewhere"/>), and assert on
/// <see cref="Acquisitions"/>; <see cref="LoseHoldOf"/>, <see cref="HoldSemaphoreElsewhere"/>,
/// <see cref="HoldReadLockElsewhere"/>, <see cref="HoldWriteLockElsewhere"/> and <see cref="CampaignElsewhere"/> do the
/// same for the other primitives. Wait timeouts run on <see cref="InMemoryEtcdLockProviderOptions.TimeProvider"/>: with a fake
/// clock a test of a long timeout takes no real time.
/// </summary>
/// <remarks>
/// Leases do not expire here: a hold is lost only when a test says so or the provider is disposed. Guarded writes
/// (<see cref="EtcdLockHandle.WriteIfHeldAsync"/>) check ownership: while the hold owns its key they apply their puts,
/// deletes and ranges to an in-memory store (latest values only) in one new revision, which
/// <see cref="EtcdLockHandle.GetAsync"/>, <see cref="EtcdLockHandle.RangeAsync"/> and <see cref="GetStoredValue"/> read;
/// otherwise they apply nothing and throw <see cref="EtcdLockNotHeldException"/>. Invariant: every state change happens under one lock; no user code runs under it (waiters resume
/// asynchronously, loss callbacks run on the thread pool).
/// </remarks>
public sealed partial class InMemoryEtcdLockProvider : IEtcdLockProvider, IAsyncDisposable
{
    private readonly InMemoryEtcdLockProviderOptions _options;
    private readonly object _gate = new();
    private readonly Dictionary<string, KeyState> _keys = new(StringComparer.Ordinal);
    private readonly List<LockAcquisition> _acquisitions = new();
    private readonly Dictionary<ByteString, Mvccpb.KeyValue> _data = new();
    private readonly ConcurrentQueue<Exception> _callbackFailures = new();
    private long _revision;
    private long _leaseIds;
    private bool _disposed;

    /// <summary>Creates a provider.</summary>
    /// <param name="options">Key prefix, default TTL, key budget; <c>null</c> uses the defaults.</param>
    public InMemoryEtcdLockProvider(InMemoryEtcdLockProviderOptions? options = null)
    {
        _options = options ?? new InMemoryEtcdLockProviderOptions();
        if (_options.TimeProvider is null)
        {
            throw new ArgumentNullException(nameof(options), "InMemoryEtcdLockProviderOptions.TimeProvider is null.");
        }

        if (_options.DefaultTtlSeconds < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(options), _options.DefaultTtlSeconds, "DefaultTtlSeconds must be at least 1.");
        }
    }

    private sealed class KeyState
    {
        public InMemoryHold? Holder;
        public string? ElsewhereHolder;
        public long ElsewhereToken;
        // A released hold whose minimum (EtcdLockOptions.HoldAtLeast) has not passed: the key stays taken until its timer fires.
        public ITimer? Kept;
        public readonly LinkedList<TaskCompletionSource<bool>> Waiters = new();

        public bool IsFree => Holder is null && ElsewhereHolder is null && Kept is null;
    }

    /// <summary>Every acquire so far, in order of completion.</summary>
    public IReadOnlyList<LockAcquisition> Acquisitions
    {
        get { lock (_gate) { return _acquisitions.ToArray(); } }
    }

    /// <summary>Exceptions thrown by <see cref="EtcdLockHandle.LostToken"/> callbacks (the engine logs them; here they are kept).</summary>
    public IReadOnlyCollection<Exception> LostCallbackFailures => _callbackFailures.ToArray();

    /// <summary>Whether <paramref name="key"/> (without the prefix) is held, here or "elsewhere".</summary>
    /// <param name="key">The key as passed to <see cref="AcquireAsync"/>.</param>
    /// <returns><c>true</c> while a hold or <see cref="HoldElsewhere"/> has the key.</returns>
    public bool IsHeld(string key)
    {
        lock (_gate)
        {
            return _keys.TryGetValue(_options.KeyPrefix + key, out KeyState? state) && !state.IsFree;
        }
    }

    /// <inheritdoc />
    public ValueTask<EtcdLockHandle> AcquireAsync(string key, EtcdLockOptions? options = null, CancellationToken cancellationToken = default) =>
        AcquireCoreAsync(key, options, Timeout.InfiniteTimeSpan, throwWhenBusy: true, cancellationToken)!;

    /// <inheritdoc />
    public ValueTask<EtcdLockHandle?> TryAcquireAsync(string key, EtcdLockOptions? options = null, CancellationToken cancellationToken = default) =>
        AcquireCoreAsync(key, options, TimeSpan.Zero, throwWhenBusy: false, cancellationToken);

    private async ValueTask<EtcdLockHandle?> AcquireCoreAsync(string key, EtcdLockOptions? options, TimeSpan defaultWait, bool throwWhenBusy, CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        string fullKey = LockKeys.Build(_options.KeyPrefix, key, _options.MaxKeyBytes, out ByteString keyBytes);
        (int ttl, TimeSpan wait) = LockKeys.Options(options, _options.DefaultTtlSeconds, defaultWait);
        TimeSpan minimum = LockKeys.HoldAtLeast(options);
        cancellationToken.ThrowIfCancellationRequested();
        TimeProvider clock = _options.TimeProvider;
        long start = clock.GetTimestamp();
        bool timed = wait > TimeSpan.Zero && wait <= TimeSpan.FromMilliseconds(uint.MaxValue - 2);
        using var timeout = timed ? new CancellationTokenSource(wait, clock) : null;
        using var linked = timeout is not null ? CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timeout.Token) : null;
        CancellationToken token = linked?.Token ?? cancellationToken;
        bool woken = false; // a woken waiter that finds the key taken again keeps its place at the front
        while (true)
        {
            TaskCompletionSource<bool> turn;
            LinkedListNode<TaskCompletionSource<bool>> node;
            string? holder;
            lock (_gate)
            {
                ObjectDisposedException.ThrowIf(_disposed, this);
                KeyState state = State(fullKey);
                if (state.IsFree)
                {
                    long token2 = ++_revision;
                    var hold = new InMemoryHold(this, fullKey, keyBytes, Interlocked.Increment(ref _leaseIds), ttl, token2, clock.GetTimestamp(), minimum);
                    state.Holder = hold;
                    _acquisitions.Add(new LockAcquisition(fullKey, LockAcquisitionOutcome.Acquired, token2, ttl, wait));
                    return new EtcdLockHandle(hold, isNested: false);
                }

                holder = state.ElsewhereHolder ?? _options.HolderId;
                if (wait == TimeSpan.Zero)
                {
                    _acquisitions.Add(new LockAcquisition(fullKey, LockAcquisitionOutcome.Busy, null, ttl, wait));
                    return throwWhenBusy ? throw new EtcdLockTimeoutException(fullKey, holder, clock.GetElapsedTime(start)) : null;
                }

                turn = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
                node = woken ? state.Waiters.AddFirst(turn) : state.Waiters.AddLast(turn);
            }

            try
            {
                await turn.Task.WaitAsync(token).ConfigureAwait(false);
                woken = true;
            }
            catch (OperationCanceledException)
            {
                lock (_gate)
                {
                    if (node.List is not null)
                    {
                        node.List.Remove(node);
                    }
                    else
                    {
                        // Woken just as we gave up: pass the turn on.
                        WakeNext(fullKey);
                    }

                    bool cancelled = cancellationToken.IsCancellationRequested;
                    _acquisitions.Add(new LockAcquisition(fullKey, cancelled ? LockAcquisitionOutcome.Cancelled : LockAcquisitionOutcome.Busy, null, ttl, wait));
                    if (cancelled)
                    {
                        throw new OperationCanceledException("The lock acquisition was cancelled.", cancellationToken);
                    }
                }

                return throwWhenBusy ? throw new EtcdLockTimeoutException(fullKey, holder, clock.GetElapsedTime(start)) : null;
            }
        }
    }

    private KeyState State(string fullKey)
    {
        if (!_keys.TryGetValue(fullKey, out KeyState? state))
        {
            state = new KeyState();
            _keys.Add(fullKey, state);
        }

        return state;
    }

    // Under _gate: the key is free, so the first waiter gets to try.
    private void WakeNext(string fullKey)
    {
        if (_keys.TryGetValue(fullKey, out KeyState? state) && state.IsFree && state.Waiters.First is { } first)
        {
            state.Waiters.RemoveFirst();
            first.Value.TrySetResult(true);
        }
    }

    internal void Release(InMemoryHold hold)
    {
        if (!hold.MarkReleased())
        {
            return;
        }

        if (hold.Ticket is { } ticket)
        {
            lock (_gate)
            {
                if (ticket.IsQueued && ReferenceEquals(ticket.Hold, hold))
                {
                    RemoveTicket(ticket);
                }
            }

            return;
        }

        lock (_gate)
        {
            if (_keys.TryGetValue(hold.Key, out KeyState? state) && ReferenceEquals(state.Holder, hold))
            {
                state.Holder = null;
                KeepForMinimum(state, hold);
                WakeNext(hold.Key);
            }
        }
    }

    // Under _gate: a hold that leaves its key (released, or ended by dispose) before its minimum keeps the key taken
    // until the minimum has passed on the provider's clock, as the engine keeps it in etcd on a lease of its own (which
    // etcd ends up to a second later: whole seconds). A lost hold never gets here (LoseHold frees the key at once).
    private void KeepForMinimum(KeyState state, InMemoryHold hold)
    {
        TimeProvider clock = _options.TimeProvider;
        TimeSpan remaining = hold.HoldAtLeast - clock.GetElapsedTime(hold.AcquiredTimestamp);
        if (remaining <= TimeSpan.Zero || state.Kept is not null)
        {
            return;
        }

        var kept = new KeptKey(this, hold.Key, state);
        // The timer's first firing is after the lock below is released: its callback takes _gate.
        state.Kept = kept.Timer = clock.CreateTimer(static k => ((KeptKey)k!).Expire(), kept, remaining, Timeout.InfiniteTimeSpan);
    }

    private sealed class KeptKey(InMemoryEtcdLockProvider owner, string fullKey, KeyState state)
    {
        public ITimer? Timer;

        public void Expire()
        {
            lock (owner._gate)
            {
                if (Timer is not null && ReferenceEquals(state.Kept, Timer))
                {
                    state.Kept = null;
                    owner.WakeNext(fullKey);
                }
            }

            Timer?.Dispose();
        }
    }

    internal TxnResponse GuardedWrite(InMemoryHold hold, List<RequestOp> operations)
    {
        lock (_gate)
        {
            if (hold.Ticket is { } ticket)
            {
                if (hold.IsLive && ticket.IsQueued && ReferenceEquals(ticket.Hold, hold))
                {
                    return Apply(operations);
                }

                hold.MarkLost("a guarded write found the ticket's key gone");
                throw new EtcdLockNotHeldException(hold.Key, hold.FencingToken, currentHolder: null, currentFencingToken: null);
            }

            KeyState? state = _keys.GetValueOrDefault(hold.Key);
            if (hold.IsLive && state is not null && ReferenceEquals(state.Holder, hold))
            {
                return Apply(operations);
            }

            string? currentHolder = state?.ElsewhereHolder ?? (state?.Holder is not null ? _options.HolderId : null);
            long? currentToken = state?.ElsewhereHolder is not null ? state.ElsewhereToken : state?.Holder?.FencingToken;
            hold.MarkLost("a guarded write found the key held by another holder");
            throw new EtcdLockNotHeldException(hold.Key, hold.FencingToken, currentHolder, currentToken);
        }
    }

    // Under _gate: a guarded write's operations in one revision, as etcd applies a transaction's success branch.
    private TxnResponse Apply(List<RequestOp> operations)
    {
        long revision = ++_revision;
        var answer = new TxnResponse { Succeeded = true, Header = new ResponseHeader { Revision = revision } };
        foreach (RequestOp op in operations)
        {
            switch (op.RequestCase)
            {
                case RequestOp.RequestOneofCase.RequestPut:
                    PutRequest put = op.RequestPut;
                    _data.TryGetValue(put.Key, out Mvccpb.KeyValue? old);
                    _data[put.Key] = new Mvccpb.KeyValue
                    {
                        Key = put.Key,
                        Value = put.Value,
                        CreateRevision = old?.CreateRevision ?? revision,
                        ModRevision = revision,
                        Version = (old?.Version ?? 0) + 1,
                    };
                    answer.Responses.Add(new ResponseOp { ResponsePut = new PutResponse { Header = answer.Header } });
                    break;
                case RequestOp.RequestOneofCase.RequestDeleteRange:
                    DeleteRangeRequest delete = op.RequestDeleteRange;
                    List<ByteString> gone = _data.Keys.Where(k => GuardedWrites.InRange(delete.Key, delete.RangeEnd, k)).ToList();
                    gone.ForEach(k => _data.Remove(k));
                    answer.Responses.Add(new ResponseOp { ResponseDeleteRange = new DeleteRangeResponse { Header = answer.Header, Deleted = gone.Count } });
                    break;
                case RequestOp.RequestOneofCase.RequestRange:
                    answer.Responses.Add(new ResponseOp { ResponseRange = ReadUnderGate(op.RequestRange) });
                    break;
                default:
                    throw new NotSupportedException($"The in-memory provider does not apply {op.RequestCase} operations in a guarded write.");
            }
        }

        return answer;
    }

    internal RangeResponse Read(RangeRequest request)
    {
        lock (_gate)
        {
            return ReadUnderGate(request);
        }
    }

    // Under _gate: the latest values only (no history), in key order, as etcd answers a range.
    private RangeResponse ReadUnderGate(RangeRequest request)
    {
        if (request.Revision != 0)
        {
            throw new NotSupportedException("The in-memory provider keeps no history: a range at a past revision is not supported.");
        }

        List<Mvccpb.KeyValue> found = _data
            .Where(kv => GuardedWrites.InRange(request.Key, request.RangeEnd, kv.Key))
            .Select(kv => kv.Value)
            .OrderBy(kv => kv.Key.ToByteArray(), ByteOrder.Instance)
            .ToList();
        var answer = new RangeResponse { Header = new ResponseHeader { Revision = _revision }, Count = found.Count };
        if (!request.CountOnly)
        {
            IEnumerable<Mvccpb.KeyValue> page = request.Limit > 0 ? found.Take((int)Math.Min(request.Limit, int.MaxValue)) : found;
            answer.Kvs.AddRange(page.Select(kv => request.KeysOnly ? new Mvccpb.KeyValue(kv) { Value = ByteString.Empty } : kv.Clone()));
            answer.More = request.Limit > 0 && found.Count > request.Limit;
        }

        return answer;
    }

    private sealed class ByteOrder : IComparer<byte[]>
    {
        public static readonly ByteOrder Instance = new();

        public int Compare(byte[]? x, byte[]? y) => x.AsSpan().SequenceCompareTo(y);
    }

    /// <summary>
    /// The value that guarded writes (<see cref="EtcdLockHandle.PutIfHeldAsync"/>,
    /// <see cref="EtcdLockHandle.WriteIfHeldAsync"/>) of this provider's holds left at <paramref name="key"/>, for a test
    /// to assert on; what <see cref="EtcdLockHandle.GetAsync"/> reads.
    /// </summary>
    /// <param name="key">The plain key written (no <see cref="InMemoryEtcdLockProviderOptions.KeyPrefix"/>, as in etcd).</param>
    /// <returns>The value as UTF-8 text, or <c>null</c> when nothing is stored there.</returns>
    public string? GetStoredValue(string key)
    {
        ArgumentNullException.ThrowIfNull(key);
        lock (_gate)
        {
            return _data.TryGetValue(ByteString.CopyFromUtf8(key), out Mvccpb.KeyValue? kv) ? kv.Value.ToStringUtf8() : null;
        }
    }

    /// <summary>
    /// Makes the current hold of <paramref name="key"/> lost, as when its lease expires or the key is deleted in etcd:
    /// its <see cref="EtcdLockHandle.LostToken"/> fires (on the thread pool, as in the engine) and the key is free for
    /// other callers at once. The lost hold's owner still disposes its handle.
    /// </summary>
    /// <param name="key">The key as passed to <see cref="AcquireAsync"/>.</param>
    /// <param name="reason">Why, for <see cref="Losses"/>.</param>
    /// <returns><c>true</c> when a hold was made lost; <c>false</c> when the key was not held by this provider.</returns>
    public bool LoseHold(string key, string reason = "the test made the hold lost")
    {
        InMemoryHold? hold;
        lock (_gate)
        {
            if (!_keys.TryGetValue(_options.KeyPrefix + key, out KeyState? state) || state.Holder is null)
            {
                return false;
            }

            hold = state.Holder;
            state.Holder = null;
            hold.MarkLost(reason);
            WakeNext(hold.Key);
        }

        return true;
    }

    /// <summary>
    /// Makes <paramref name="key"/> busy as if another process held it, until the returned object is disposed.
    /// Callers then wait, time out, get <c>null</c> or are skipped, as with a real holder elsewhere.
    /// </summary>
    /// <param name="key">The key as passed to <see cref="AcquireAsync"/>.</param>
    /// <param name="holder">What <see cref="EtcdLockTimeoutException.Holder"/> names.</param>
    /// <returns>Dispose it to free the key.</returns>
    /// <exception cref="InvalidOperationException">The key is held already.</exception>
    public IDisposable HoldElsewhere(string key, string holder = "another process")
    {
        string fullKey = _options.KeyPrefix + key;
        lock (_gate)
        {
            KeyState state = State(fullKey);
            if (!state.IsFree)
            {
                throw new InvalidOperationException($"The key '{fullKey}' is held already.");
            }

            state.ElsewhereHolder = holder;
            state.ElsewhereToken = ++_revision;
        }

        return new ElsewhereHold(this, fullKey);
    }

    private sealed class ElsewhereHold(InMemoryEtcdLockProvider owner, string fullKey) : IDisposable
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
                KeyState state = owner.State(fullKey);
                state.ElsewhereHolder = null;
                owner.WakeNext(fullKey);
            }
        }
    }

    /// <summary>The reasons of the losses so far (by <see cref="LoseHold"/>, a refused guarded write, or dispose).</summary>
    public IReadOnlyList<string> Losses
    {
        get { lock (_losses) { return _losses.ToArray(); } }
    }

    private readonly List<string> _losses = new();

    internal void RecordLoss(InMemoryHold hold, string reason)
    {
        lock (_losses)
        {
            _losses.Add($"{hold.Key}: {reason}");
        }
    }

    internal void RecordCallbackFailure(Exception exception) => _callbackFailures.Enqueue(exception);

    /// <summary>Like the real provider: every open hold is told it is lost, and later acquires throw <see cref="ObjectDisposedException"/>.</summary>
    /// <returns>A completed task.</returns>
    public ValueTask DisposeAsync()
    {
        lock (_gate)
        {
            if (_disposed)
            {
                return ValueTask.CompletedTask;
            }

            _disposed = true;
            foreach (KeyState state in _keys.Values)
            {
                if (state.Holder is { } open)
                {
                    open.MarkLost("the lock provider was disposed while the lock was held");
                    state.Holder = null;
                    KeepForMinimum(state, open); // still ours: its minimum holds, as in etcd
                }

                foreach (TaskCompletionSource<bool> waiter in state.Waiters)
                {
                    waiter.TrySetException(new ObjectDisposedException(nameof(InMemoryEtcdLockProvider)));
                }

                state.Waiters.Clear();
            }

            DisposeTickets();
        }

        return ValueTask.CompletedTask;
    }
}
