using System.ComponentModel;
using AttributeLock.Engine;
using AttributeLock.Engine.Lock;

namespace AttributeLock;

/// <summary>One generated wrapper call's hold: the handle and the token the body runs with.</summary>
/// <remarks>
/// Internally, the scope is the call's frame on its async flow: the frames form a chain in an <see cref="AsyncLocal{T}"/>,
/// which is how a nested wrapper call on the same key finds the hold it runs under, and what
/// <see cref="EtcdLockContext.Current"/> reads. The direct API (<see cref="IEtcdLockProvider"/>) never pushes frames
/// and is never reentrant.
/// <para>Invariants:</para>
/// <list type="bullet">
/// <item>A frame is pushed by the synchronous part of <see cref="EtcdLockInvocation.EnterAsync(IEtcdLockProvider, string, int, int, int, LockBusyBehavior, CancellationToken)"/>, so it lands in the
/// generated wrapper's own execution context: the wrapper's body (and tasks it starts) see it; the wrapper's caller
/// does not, and it is gone when the wrapper returns.</item>
/// <item>A frame nests only while it is open and its hold is live (<c>HoldBase.IsLive</c>). It is
/// <see cref="EtcdLockContext.Current"/> while it is open and its hold not released: a body whose hold was lost still
/// sees its (lost) handle, so that its guarded writes are refused by etcd with a clear exception; a task that outlives
/// the call, or runs after the hold was released from any flow, sees nothing.</item>
/// <item>The frame chain never decides exclusion alone: a nested entry also needs the hold's nesting stack to have its
/// parent frame on top (<c>HoldBase.TryNest</c>).</item>
/// </list>
/// <para>The frame and the scope the generated code holds are one object (one allocation per call, not two). It is
/// also its call's <see cref="IAcquireOutcome{TResult}"/>: the acquire completes it inside the acquire's own state
/// machine. A skipped call's scope is its closed frame, without a handle.</para>
/// </remarks>
[EditorBrowsable(EditorBrowsableState.Never)]
public sealed class EtcdLockScope : IAsyncDisposable, IAcquireOutcome<EtcdLockScope>
{
    private static readonly AsyncLocal<EtcdLockScope?> s_head = new();
    private readonly IEtcdLockProvider _provider;
    private readonly string _key;
    private readonly EtcdLockScope? _parent;
    private readonly ScopeKind _kind;
    private readonly int _maxCount;
    private volatile bool _closed;
    private CancellationTokenSource? _linked;
    private CancellationToken _callerToken;
    private CancellationToken _token;

    private EtcdLockScope(IEtcdLockProvider provider, string key, EtcdLockScope? parent, ScopeKind kind, int maxCount)
    {
        _provider = provider;
        _key = key;
        _parent = parent;
        _kind = kind;
        _maxCount = maxCount;
    }

    /// <summary><c>false</c> when the lock was busy and the call is skipped.</summary>
    public bool Acquired => Handle is not null;

    /// <summary>The held lock, or <c>null</c> when skipped.</summary>
    public EtcdLockHandle? Handle { get; private set; }

    /// <summary>Cancelled when the caller's token is cancelled or the hold is lost.</summary>
    public CancellationToken CancellationToken => _token;

    /// <summary>The key as the wrapper formatted it (without the provider's prefix).</summary>
    internal string Key => _key;

    /// <summary>The frame this one nests in on the hold's nesting stack; null for the frame that acquired.</summary>
    internal EtcdLockScope? NestedParent { get; set; }

    internal bool IsClosed => _closed;

    /// <summary>Open, acquired, and its hold still live.</summary>
    internal bool IsLive => !_closed && Handle is { } h && h.Hold.IsLive;

    /// <summary>Open, acquired, and its hold not released (a lost hold still counts: its body is still running).</summary>
    internal bool IsCurrent => !_closed && Handle is { } h && h.Hold.State != HoldState.Released;

    /// <summary>Pushes a frame for a wrapper call; must run in the synchronous part of the wrapper's call.</summary>
    internal static EtcdLockScope Push(IEtcdLockProvider provider, string key, ScopeKind kind = ScopeKind.Lock, int maxCount = 0)
    {
        EtcdLockScope? parent = s_head.Value;
        while (parent is not null && parent._closed)
        {
            parent = parent._parent; // keeps chains short after many finished calls in one flow
        }

        var frame = new EtcdLockScope(provider, key, parent, kind, maxCount);
        s_head.Value = frame;
        return frame;
    }

    /// <summary>
    /// The innermost open, acquired frame above this one (on its flow) for the same provider and key that this frame
    /// may nest in: a lock in a lock, a ticket in a ticket of the same semaphore, a read in a read or a write, a write in
    /// a write. Frames of other kinds on the same key string are other keys in etcd and are passed over.
    /// </summary>
    /// <exception cref="InvalidOperationException">A write call inside a read hold of the same key (an upgrade).</exception>
    internal EtcdLockScope? FindEnclosingForSameKey()
    {
        for (EtcdLockScope? f = _parent; f is not null; f = f._parent)
        {
            if (f._closed || f.Handle is null || !ReferenceEquals(f._provider, _provider) || !string.Equals(f._key, _key, StringComparison.Ordinal))
            {
                continue;
            }

            switch ((_kind, f._kind))
            {
                case (ScopeKind.Semaphore, ScopeKind.Semaphore) when f._maxCount != _maxCount:
                    throw new InvalidOperationException(
                        $"A semaphore call on '{_key}' with MaxCount {_maxCount} was nested in one with MaxCount {f._maxCount} on the same flow; every user of one semaphore must pass the same MaxCount.");
                case (ScopeKind.Write, ScopeKind.Read) when f.Handle.Key.Contains("/#rw/w/", StringComparison.Ordinal):
                    return f; // a read nested in a write rides the write hold: a write may nest in it
                case (ScopeKind.Lock, ScopeKind.Lock):
                case (ScopeKind.Semaphore, ScopeKind.Semaphore):
                case (ScopeKind.Read, ScopeKind.Read or ScopeKind.Write):
                case (ScopeKind.Write, ScopeKind.Write):
                    return f;
                case (ScopeKind.Write, ScopeKind.Read) when f.IsLive:
                    throw new InvalidOperationException(
                        $"A write lock on '{_key}' was asked for inside a read hold of the same key on the same flow: it would wait for that read hold forever (upgrades are not supported). " +
                        "Take the write lock in the outer call instead (a read call nested in a write call runs under it).");
            }
        }

        return null;
    }

    /// <summary>What this frame holds.</summary>
    internal ScopeKind Kind => _kind;

    internal void Close() => _closed = true;

    /// <summary>The handle of the innermost open call on the current flow whose hold has not been released.</summary>
    internal static EtcdLockHandle? CurrentHandle()
    {
        for (EtcdLockScope? f = s_head.Value; f is not null; f = f._parent)
        {
            if (f.IsCurrent)
            {
                return f.Handle;
            }
        }

        return null;
    }

    /// <summary>The call holds <paramref name="handle"/> (its own or a nested one): the body's token is set up.</summary>
    internal void Enter(EtcdLockHandle handle, CancellationToken callerToken)
    {
        _callerToken = callerToken;
        if (callerToken.CanBeCanceled)
        {
            _linked = CancellationTokenSource.CreateLinkedTokenSource(callerToken, handle.LostToken);
            _token = _linked.Token;
        }
        else
        {
            _token = handle.LostToken;
        }

        Handle = handle;
    }

    /// <summary>This frame's own acquisition succeeded: it owns the hold's nesting, and the body runs in its scope.</summary>
    EtcdLockScope IAcquireOutcome<EtcdLockScope>.Acquired(LockHold hold, CancellationToken callerToken)
    {
        hold.SetRootFrame(this);
        Enter(new EtcdLockHandle(hold, isNested: false), callerToken);
        return this;
    }

    /// <summary>Skipped as busy: this frame, closed by <see cref="IAcquireOutcome{TResult}.NotAcquired"/>, without a handle.</summary>
    EtcdLockScope? IAcquireOutcome<EtcdLockScope>.Busy() => this;

    /// <summary>No hold: the frame closes (nothing ever runs in it).</summary>
    void IAcquireOutcome<EtcdLockScope>.NotAcquired() => Close();

    /// <summary>
    /// Whether <paramref name="exception"/>, which ended the body, is a cancellation this scope caused and that the
    /// wrapper replaces with <see cref="CancellationFor"/>: the hold was lost while the caller's token was not
    /// cancelled, or the caller cancelled and the exception carries the scope's internal linked token.
    /// </summary>
    /// <param name="exception">The cancellation that ended the body.</param>
    /// <returns><c>true</c> when the wrapper should throw <see cref="CancellationFor"/> instead.</returns>
    public bool IsScopeCancellation(OperationCanceledException exception)
    {
        if (Handle is null || exception is null || exception is EtcdLockLostException)
        {
            // Skipped (no body ran), or a nested call already said the hold was lost: it passes through unchanged.
            return false;
        }

        if (_callerToken.IsCancellationRequested)
        {
            // The caller's cancellation wins over a loss it may race with; only our own linked token is replaced.
            return _linked is not null && exception.CancellationToken == _linked.Token;
        }

        return Handle.LostToken.IsCancellationRequested;
    }

    /// <summary>
    /// What the wrapper throws instead of <paramref name="exception"/> when <see cref="IsScopeCancellation"/> is true:
    /// <see cref="EtcdLockLostException"/> (key, fencing token, why the hold was lost) when the hold was lost, or the
    /// caller's cancellation carrying the caller's token.
    /// </summary>
    /// <param name="exception">The cancellation that ended the body (kept as the inner exception).</param>
    /// <returns>The exception to throw.</returns>
    public OperationCanceledException CancellationFor(OperationCanceledException exception)
    {
        if (_callerToken.IsCancellationRequested || Handle is null)
        {
            return exception is TaskCanceledException
                ? new TaskCanceledException(exception.Message, exception, _callerToken)
                : new OperationCanceledException(exception.Message, exception, _callerToken);
        }

        string? reason = Handle.Hold.LostReason
            ?? (Handle.IsNested ? "the outer call's hold ended" : null);
        return new EtcdLockLostException(Handle.Key, Handle.FencingToken, reason, exception, Handle.LostToken);
    }

    /// <summary>Releases the lock.</summary>
    /// <returns>A task that completes when the release was tried.</returns>
    public ValueTask DisposeAsync()
    {
        Close();
        if (Handle is { IsNested: true } nested)
        {
            nested.Hold.Unnest(this);
        }

        _linked?.Dispose();
        return Handle?.DisposeAsync() ?? ValueTask.CompletedTask;
    }
}
