using System.ComponentModel;
using AttributeLock.Engine;

namespace AttributeLock;

/// <summary>
/// The runtime entry point of generated <see cref="EtcdLockAttribute"/> wrappers. Not meant to be called by hand:
/// use <see cref="IEtcdLockProvider"/> directly.
/// </summary>
[EditorBrowsable(EditorBrowsableState.Never)]
public static class EtcdLockInvocation
{
    /// <summary>Acquires the lock for one call of a generated wrapper.</summary>
    /// <param name="provider">The containing type's lock provider.</param>
    /// <param name="key">The formatted key (without the provider's prefix).</param>
    /// <param name="ttlSeconds">The attribute's <see cref="EtcdLockAttribute.Ttl"/>; 0 uses the provider's default.</param>
    /// <param name="waitTimeoutMilliseconds">The attribute's wait timeout: -1 waits without limit, 0 is one attempt.</param>
    /// <param name="whenBusy">What to do when the lock stays busy.</param>
    /// <param name="cancellationToken">The caller's token.</param>
    /// <returns>The scope of the call; dispose it when the body completes.</returns>
    public static ValueTask<EtcdLockScope> EnterAsync(
        IEtcdLockProvider provider,
        string key,
        int ttlSeconds,
        int waitTimeoutMilliseconds,
        LockBusyBehavior whenBusy,
        CancellationToken cancellationToken) =>
        EnterAsync(provider, key, ttlSeconds, waitTimeoutMilliseconds, holdAtLeastMilliseconds: 0, whenBusy, cancellationToken);

    /// <summary>Acquires the lock for one call of a generated wrapper whose attribute sets a minimum hold.</summary>
    /// <param name="provider">The containing type's lock provider.</param>
    /// <param name="key">The formatted key (without the provider's prefix).</param>
    /// <param name="ttlSeconds">The attribute's <see cref="EtcdLockAttribute.Ttl"/>; 0 uses the provider's default.</param>
    /// <param name="waitTimeoutMilliseconds">The attribute's wait timeout: -1 waits without limit, 0 is one attempt.</param>
    /// <param name="holdAtLeastMilliseconds">
    /// The attribute's <see cref="EtcdLockAttribute.HoldAtLeastMilliseconds"/>: the least time the key stays taken from
    /// the acquire on; 0 for none. A negative value throws <see cref="ArgumentOutOfRangeException"/>.
    /// </param>
    /// <param name="whenBusy">What to do when the lock stays busy.</param>
    /// <param name="cancellationToken">The caller's token.</param>
    /// <returns>The scope of the call; dispose it when the body completes.</returns>
    public static ValueTask<EtcdLockScope> EnterAsync(
        IEtcdLockProvider provider,
        string key,
        int ttlSeconds,
        int waitTimeoutMilliseconds,
        int holdAtLeastMilliseconds,
        LockBusyBehavior whenBusy,
        CancellationToken cancellationToken)
    {
        if (provider is null)
        {
            throw new InvalidOperationException($"The lock provider for '{key}' is null: the containing type's IEtcdLockProvider member was not set.");
        }

        int? ttl = ttlSeconds > 0 ? ttlSeconds : null;
        TimeSpan wait = waitTimeoutMilliseconds < 0 ? Timeout.InfiniteTimeSpan : TimeSpan.FromMilliseconds(waitTimeoutMilliseconds);
        // A negative value stays negative, and the provider refuses it naming the option.
        TimeSpan? holdAtLeast = holdAtLeastMilliseconds == 0 ? null : TimeSpan.FromMilliseconds(holdAtLeastMilliseconds);
        bool skip = whenBusy == LockBusyBehavior.Skip;

        // Pushed in the synchronous part of the call, so the frame lands in the generated wrapper's own execution
        // context: its body sees it, its caller does not (see WrapperFrame).
        WrapperFrame frame = WrapperFrame.Push(provider, key);
        if (provider is EtcdLockProvider etcd && frame.FindEnclosingForSameKey() is null)
        {
            // Not nested (what Nesting would find out at once, synchronously): the values go to the protocol as they
            // are, and the frame makes the scope inside the acquire's own state machine (no EtcdLockOptions, no async
            // layer of ours per call). What Prepare throws reaches the wrapper as a faulted task, as before.
            try
            {
                return etcd.EnterAsync(frame, key, ttl, wait, holdAtLeast, throwWhenBusy: !skip, cancellationToken)!;
            }
            catch (Exception ex)
            {
                frame.Close();
                return ValueTask.FromException<EtcdLockScope>(ex);
            }
        }

        var options = new EtcdLockOptions { TtlSeconds = ttl, WaitTimeout = wait, HoldAtLeast = holdAtLeast };
        return EnterCoreAsync(provider, frame, key, options, skip, cancellationToken);
    }

    /// <summary>
    /// A call nested in a live call on the same key and provider (same flow) shares its hold, one nested call at a time
    /// (see Nesting); otherwise the lock is acquired as by any other caller.
    /// </summary>
    private static async ValueTask<EtcdLockScope> EnterCoreAsync(IEtcdLockProvider provider, WrapperFrame frame, string key, EtcdLockOptions options, bool skip, CancellationToken cancellationToken)
    {
        try
        {
            (EtcdLockHandle? handle, bool busy) = await Nesting.TryEnterNestedAsync(frame, options.WaitTimeout!.Value, throwWhenBusy: !skip, cancellationToken).ConfigureAwait(false);
            if (handle is null && !busy)
            {
                handle = skip
                    ? await provider.TryAcquireAsync(key, options, cancellationToken).ConfigureAwait(false)
                    : await provider.AcquireAsync(key, options, cancellationToken).ConfigureAwait(false);
                handle?.Hold.SetRootFrame(frame);
            }

            if (handle is null)
            {
                frame.Close();
                return EtcdLockScope.Skipped;
            }

            frame.Handle = handle;
            return new EtcdLockScope(handle, frame, cancellationToken);
        }
        catch
        {
            frame.Close();
            throw;
        }
    }
}

/// <summary>One generated wrapper call's hold: the handle and the token the body runs with.</summary>
[EditorBrowsable(EditorBrowsableState.Never)]
public sealed class EtcdLockScope : IAsyncDisposable
{
    internal static readonly EtcdLockScope Skipped = new();

    private readonly CancellationTokenSource? _linked;
    private readonly WrapperFrame? _frame;
    private readonly CancellationToken _callerToken;

    private EtcdLockScope()
    {
    }

    internal EtcdLockScope(EtcdLockHandle handle, WrapperFrame frame, CancellationToken callerToken)
    {
        Handle = handle;
        _frame = frame;
        _callerToken = callerToken;
        if (callerToken.CanBeCanceled)
        {
            _linked = CancellationTokenSource.CreateLinkedTokenSource(callerToken, handle.LostToken);
            CancellationToken = _linked.Token;
        }
        else
        {
            CancellationToken = handle.LostToken;
        }
    }

    /// <summary><c>false</c> when the lock was busy and the call is skipped.</summary>
    public bool Acquired => Handle is not null;

    /// <summary>The held lock, or <c>null</c> when skipped.</summary>
    public EtcdLockHandle? Handle { get; }

    /// <summary>Cancelled when the caller's token is cancelled or the hold is lost.</summary>
    public CancellationToken CancellationToken { get; }

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
        if (_frame is not null)
        {
            _frame.Close();
            if (Handle is { IsNested: true } nested)
            {
                nested.Hold.Unnest(_frame);
            }
        }

        _linked?.Dispose();
        return Handle?.DisposeAsync() ?? ValueTask.CompletedTask;
    }
}
