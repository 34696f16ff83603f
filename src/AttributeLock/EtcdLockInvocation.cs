using System.ComponentModel;

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
        CancellationToken cancellationToken)
    {
        if (provider is null)
        {
            throw new InvalidOperationException($"The lock provider for '{key}' is null: the containing type's IEtcdLockProvider member was not set.");
        }

        var options = new EtcdLockOptions
        {
            TtlSeconds = ttlSeconds > 0 ? ttlSeconds : null,
            WaitTimeout = waitTimeoutMilliseconds < 0 ? Timeout.InfiniteTimeSpan : TimeSpan.FromMilliseconds(waitTimeoutMilliseconds),
        };

        // Called synchronously, not awaited here: the provider records the hold in the
        // caller's execution context before its first await (see HeldLocks).
        if (whenBusy == LockBusyBehavior.Skip)
        {
            return CompleteSkippableAsync(provider.TryAcquireAsync(key, options, cancellationToken), cancellationToken);
        }

        return CompleteAsync(provider.AcquireAsync(key, options, cancellationToken), cancellationToken);
    }

    private static async ValueTask<EtcdLockScope> CompleteSkippableAsync(ValueTask<EtcdLockHandle?> acquiring, CancellationToken cancellationToken)
    {
        EtcdLockHandle? handle = await acquiring.ConfigureAwait(false);
        return handle is null ? EtcdLockScope.Skipped : new EtcdLockScope(handle, cancellationToken);
    }

    private static async ValueTask<EtcdLockScope> CompleteAsync(ValueTask<EtcdLockHandle> acquiring, CancellationToken cancellationToken)
    {
        EtcdLockHandle handle = await acquiring.ConfigureAwait(false);
        return new EtcdLockScope(handle, cancellationToken);
    }
}

/// <summary>One generated wrapper call's hold: the handle and the token the body runs with.</summary>
[EditorBrowsable(EditorBrowsableState.Never)]
public sealed class EtcdLockScope : IAsyncDisposable
{
    internal static readonly EtcdLockScope Skipped = new();

    private readonly CancellationTokenSource? _linked;

    private EtcdLockScope()
    {
    }

    internal EtcdLockScope(EtcdLockHandle handle, CancellationToken callerToken)
    {
        Handle = handle;
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

    /// <summary>Releases the lock.</summary>
    /// <returns>A task that completes when the release was tried.</returns>
    public ValueTask DisposeAsync()
    {
        _linked?.Dispose();
        return Handle?.DisposeAsync() ?? ValueTask.CompletedTask;
    }
}
