namespace AttributeLock.Engine;

/// <summary>The state every hold has, whoever holds it (etcd, or the in-memory test double): loss, release, nesting.</summary>
/// <remarks>
/// Invariants (state changes under the hold's own lock: <c>lock (this)</c>, on an internal object nothing else locks;
/// a separate lock object would cost an allocation per hold):
/// <list type="bullet">
/// <item>Held → Lost → Released, or Held → Released. A hold is "live" only while Held: nothing hands out a nested
/// handle of a hold that is not live.</item>
/// <item>Loss is signalled exactly once, never inline: the keeper's timer, a renewal's completion, the key watcher and
/// the provider's dispose only flip the state and hand the signal to a thread of its own (<see cref="SignalThreads"/>), so user callbacks registered on
/// <see cref="LostToken"/> (which may throw or block) never run on the lease machinery and cannot delay another hold.</item>
/// <item><see cref="LostToken"/>'s source is created when first asked for (most direct callers never ask): created
/// after the loss was signalled, it is created cancelled (nothing can have registered on it yet).</item>
/// <item>Nested handles observe <see cref="EndedToken"/>: cancelled when the hold ends for any reason (loss or release).</item>
/// <item>Nesting is a stack owned by frames (see <see cref="EtcdLockScope"/>): only the frame at the top may nest, so
/// tasks started inside a hold never run "inside" it side by side through nested handles.</item>
/// </list>
/// </remarks>
internal abstract class HoldBase
{
    private CancellationTokenSource? _lost;
    private bool _lostSignalled;
    private CancellationTokenSource? _ended;
    private HoldState _state = HoldState.Held;
    private EtcdLockScope? _top;
    private TaskCompletionSource? _topChanged;
    private string? _lostReason;

    /// <summary>The full key (prefix included).</summary>
    public abstract string Key { get; }

    public abstract long LeaseId { get; }

    public abstract long TtlSeconds { get; }

    public abstract long FencingToken { get; }

    /// <summary>Releases the hold for its owner (the handle's dispose). Never throws.</summary>
    public abstract ValueTask ReleaseAsync();

    /// <summary>The handle was collected without being disposed.</summary>
    public abstract void OnAbandoned();

    /// <summary>The ownership checks etcd evaluates inside a guarded write: the key's create revision and its lease.</summary>
    public abstract Etcdserverpb.Compare[] OwnershipComparisons();

    /// <summary>Applies a write only while the hold owns its key.</summary>
    public abstract Task<Etcdserverpb.TxnResponse> WriteIfHeldAsync(IEnumerable<Etcdserverpb.RequestOp> operations, CancellationToken cancellationToken);

    /// <summary>Reads keys (not guarded: the write that follows is) through the holder's own store and connection.</summary>
    public abstract Task<Etcdserverpb.RangeResponse> ReadAsync(Etcdserverpb.RangeRequest request, CancellationToken cancellationToken);

    /// <summary>Logs and counts a loss; runs on the thread pool.</summary>
    protected abstract void ReportLost(string reason);

    /// <summary>Logs a user callback that threw.</summary>
    protected abstract void ReportCallbackFailed(string what, Exception exception);

    public CancellationToken LostToken
    {
        get
        {
            CancellationTokenSource? lost = Volatile.Read(ref _lost);
            if (lost is not null)
            {
                return lost.Token;
            }

            lock (this)
            {
                if (_lost is null)
                {
                    lost = new CancellationTokenSource();
                    if (_lostSignalled)
                    {
                        lost.Cancel(); // nobody registered on it yet: no user code runs here
                    }

                    Volatile.Write(ref _lost, lost);
                }

                return _lost.Token;
            }
        }
    }

    public HoldState State
    {
        get
        {
            Refresh();
            lock (this)
            {
                return _state;
            }
        }
    }

    /// <summary>Brings the state up to date with the clock before it is read (called outside the hold's lock).</summary>
    protected virtual void Refresh()
    {
    }

    public bool IsLive => State == HoldState.Held;

    public bool IsLost
    {
        get
        {
            Refresh();
            lock (this)
            {
                return _state == HoldState.Lost || (_state == HoldState.Released && _lostReason is not null);
            }
        }
    }

    public string? LostReason
    {
        get { lock (this) { return _lostReason; } }
    }

    /// <summary>Cancelled when the hold ends for any reason; what nested handles observe.</summary>
    public CancellationToken EndedToken
    {
        get
        {
            lock (this)
            {
                if (_ended is null)
                {
                    _ended = new CancellationTokenSource();
                    if (_state != HoldState.Held)
                    {
                        _ended.Cancel(); // nobody registered on it yet: no user code runs here
                    }
                }

                return _ended.Token;
            }
        }
    }

    /// <summary>Declares the hold lost (once, and only while held); the signal runs on a thread of its own.</summary>
    public void MarkLost(string reason)
    {
        lock (this)
        {
            if (_state != HoldState.Held)
            {
                return;
            }

            _state = HoldState.Lost;
            _lostReason = reason;
        }

        SignalThreads.Run(static h => h.SignalLost(), this);
    }

    private void SignalLost()
    {
        string reason = LostReason ?? "";
        ReportLost(reason);
        CancellationTokenSource? lost;
        lock (this)
        {
            _lostSignalled = true; // a source created from now on is created cancelled
            lost = _lost;
        }

        if (lost is not null)
        {
            Cancel(lost, "LostToken");
        }
        SignalEnded();
    }

    /// <summary>Marks the hold released; returns false when it was released already.</summary>
    public bool MarkReleased() => MarkReleased(out _);

    /// <summary>Marks the hold released; returns false when it was released already.</summary>
    /// <param name="signalled">Whether the release handed an end signal to a thread of its own (only when someone could listen).</param>
    public bool MarkReleased(out bool signalled)
    {
        bool signal;
        lock (this)
        {
            if (_state == HoldState.Released)
            {
                signalled = false;
                return false;
            }

            // A lost hold signalled its end with the loss already. A held one signals only when someone can be
            // listening: EndedToken was asked for (a nested handle) or a nested call waits for the top to change.
            // Neither can appear once the state is Released (EndedToken is then created cancelled, with nothing
            // registered; TryNest answers NotLive), so a release nobody listens to starts no signal thread.
            signal = _state == HoldState.Held && (_ended is not null || _topChanged is not null);
            _state = HoldState.Released;
        }

        if (signal)
        {
            SignalThreads.Run(static h => h.SignalEnded(), this);
        }

        signalled = signal;
        return true;
    }

    private void SignalEnded()
    {
        CancellationTokenSource? ended;
        TaskCompletionSource? changed;
        lock (this)
        {
            ended = _ended;
            changed = _topChanged;
            _topChanged = null;
        }

        changed?.TrySetResult();
        if (ended is not null)
        {
            Cancel(ended, "a nested handle's LostToken");
        }
    }

    private void Cancel(CancellationTokenSource source, string what)
    {
        try
        {
            source.Cancel();
        }
        catch (Exception ex)
        {
            // A user's callback threw. It ran on a pool thread of its own; the process and other holds go on.
            ReportCallbackFailed(what, ex);
        }
    }

    /// <summary>Makes <paramref name="root"/> the frame that owns the hold's nesting (a wrapper's own acquisition).</summary>
    public void SetRootFrame(EtcdLockScope root)
    {
        lock (this)
        {
            _top = root;
        }
    }

    /// <summary>
    /// Tries to nest <paramref name="frame"/> inside <paramref name="parent"/>: only while the hold is live and
    /// <paramref name="parent"/> is the top of the nesting stack.
    /// </summary>
    /// <returns>Nested, NotLive (acquire normally), or Busy with a task that completes when the stack changes.</returns>
    public NestOutcome TryNest(EtcdLockScope parent, EtcdLockScope frame, out Task changed)
    {
        lock (this)
        {
            changed = Task.CompletedTask;
            if (_state != HoldState.Held)
            {
                return NestOutcome.NotLive;
            }

            if (ReferenceEquals(_top, parent))
            {
                frame.NestedParent = parent;
                _top = frame;
                return NestOutcome.Nested;
            }

            _topChanged ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            changed = _topChanged.Task;
            return NestOutcome.Busy;
        }
    }

    /// <summary>A nested frame ended: the top goes back to its nearest still-open ancestor.</summary>
    public void Unnest(EtcdLockScope frame)
    {
        TaskCompletionSource? changed;
        lock (this)
        {
            if (!ReferenceEquals(_top, frame))
            {
                return;
            }

            EtcdLockScope? top = frame.NestedParent;
            while (top is not null && top.IsClosed)
            {
                top = top.NestedParent;
            }

            _top = top;
            changed = _topChanged;
            _topChanged = null;
        }

        changed?.TrySetResult();
    }
}
