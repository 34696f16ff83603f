using AttributeLock.Engine.Lock;

namespace AttributeLock.Engine;

/// <summary>
/// One generated wrapper call on the current async flow: the frames form a chain in an <see cref="AsyncLocal{T}"/>,
/// which is how a nested wrapper call on the same key finds the hold it runs under, and what
/// <see cref="EtcdLockContext.Current"/> reads. The direct API (<see cref="IEtcdLockProvider"/>) never pushes frames
/// and is never reentrant.
/// </summary>
/// <remarks>
/// Invariants:
/// <list type="bullet">
/// <item>A frame is pushed by the synchronous part of <c>EtcdLockInvocation.EnterAsync</c>, so it lands in the
/// generated wrapper's own execution context: the wrapper's body (and tasks it starts) see it; the wrapper's caller
/// does not, and it is gone when the wrapper returns.</item>
/// <item>A frame nests only while it is open and its hold is live (<see cref="HoldBase.IsLive"/>). It is
/// <see cref="EtcdLockContext.Current"/> while it is open and its hold not released: a body whose hold was lost still
/// sees its (lost) handle, so that its guarded writes are refused by etcd with a clear exception; a task that outlives
/// the call, or runs after the hold was released from any flow, sees nothing.</item>
/// <item>The frame chain never decides exclusion alone: a nested entry also needs the hold's nesting stack to have its
/// parent frame on top (<see cref="HoldBase.TryNest"/>).</item>
/// </list>
/// <para>A frame is also its call's <see cref="IAcquireOutcome{TResult}"/>: the acquire makes the call's scope through it,
/// inside the acquire's own state machine.</para>
/// </remarks>
internal sealed class WrapperFrame : IAcquireOutcome<EtcdLockScope>
{
    private static readonly AsyncLocal<WrapperFrame?> s_head = new();
    private volatile bool _closed;

    private WrapperFrame(IEtcdLockProvider provider, string key, WrapperFrame? parent)
    {
        Provider = provider;
        Key = key;
        Parent = parent;
    }

    public IEtcdLockProvider Provider { get; }

    /// <summary>The key as the wrapper formatted it (without the provider's prefix).</summary>
    public string Key { get; }

    /// <summary>The frame that was current when this one was pushed (on the async flow).</summary>
    public WrapperFrame? Parent { get; }

    /// <summary>The frame this one nests in on the hold's nesting stack; null for the frame that acquired.</summary>
    public WrapperFrame? NestedParent { get; set; }

    public EtcdLockHandle? Handle { get; set; }

    public bool IsClosed => _closed;

    /// <summary>Open, acquired, and its hold still live.</summary>
    public bool IsLive => !_closed && Handle is { } h && h.Hold.IsLive;

    /// <summary>Pushes a frame for a wrapper call; must run in the synchronous part of the wrapper's call.</summary>
    public static WrapperFrame Push(IEtcdLockProvider provider, string key)
    {
        WrapperFrame? parent = s_head.Value;
        while (parent is not null && parent._closed)
        {
            parent = parent.Parent; // keeps chains short after many finished calls in one flow
        }

        var frame = new WrapperFrame(provider, key, parent);
        s_head.Value = frame;
        return frame;
    }

    /// <summary>The innermost open frame above this one (on its flow) for the same provider and key, acquired or not.</summary>
    public WrapperFrame? FindEnclosingForSameKey()
    {
        for (WrapperFrame? f = Parent; f is not null; f = f.Parent)
        {
            if (!f._closed && f.Handle is not null && ReferenceEquals(f.Provider, Provider) && string.Equals(f.Key, Key, StringComparison.Ordinal))
            {
                return f;
            }
        }

        return null;
    }

    public void Close() => _closed = true;

    /// <summary>This frame's own acquisition succeeded: it owns the hold's nesting, and the body runs in its scope.</summary>
    public EtcdLockScope Acquired(LockHold hold, CancellationToken callerToken)
    {
        hold.SetRootFrame(this);
        var handle = new EtcdLockHandle(hold, isNested: false);
        Handle = handle;
        return new EtcdLockScope(handle, this, callerToken);
    }

    /// <summary>Skipped as busy (the frame is closed by <see cref="NotAcquired"/>).</summary>
    public EtcdLockScope Busy() => EtcdLockScope.Skipped;

    /// <summary>No hold: the frame closes (nothing ever runs in it).</summary>
    public void NotAcquired() => Close();

    /// <summary>Open, acquired, and its hold not released (a lost hold still counts: its body is still running).</summary>
    public bool IsCurrent => !_closed && Handle is { } h && h.Hold.State != HoldState.Released;

    /// <summary>The handle of the innermost open call on the current flow whose hold has not been released.</summary>
    public static EtcdLockHandle? CurrentHandle()
    {
        for (WrapperFrame? f = s_head.Value; f is not null; f = f.Parent)
        {
            if (f.IsCurrent)
            {
                return f.Handle;
            }
        }

        return null;
    }
}
