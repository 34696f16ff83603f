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

        // Pushed in the synchronous part of the call, so the frame (the call's scope) lands in the generated wrapper's
        // own execution context: its body sees it, its caller does not (see EtcdLockScope).
        EtcdLockScope frame = EtcdLockScope.Push(provider, key);
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
    private static async ValueTask<EtcdLockScope> EnterCoreAsync(IEtcdLockProvider provider, EtcdLockScope frame, string key, EtcdLockOptions options, bool skip, CancellationToken cancellationToken)
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
                return frame; // skipped: closed, no handle
            }

            frame.Enter(handle, cancellationToken);
            return frame;
        }
        catch
        {
            frame.Close();
            throw;
        }
    }

    /// <summary>Acquires a semaphore ticket for one call of a generated <see cref="EtcdSemaphoreAttribute"/> wrapper.</summary>
    /// <param name="provider">The containing type's lock provider.</param>
    /// <param name="key">The formatted key (without the provider's prefix).</param>
    /// <param name="maxCount">The attribute's <see cref="EtcdSemaphoreAttribute.MaxCount"/>.</param>
    /// <param name="ttlSeconds">The attribute's TTL; 0 uses the provider's default.</param>
    /// <param name="waitTimeoutMilliseconds">The attribute's wait timeout: -1 waits without limit, 0 is one attempt.</param>
    /// <param name="whenBusy">What to do when no ticket is free.</param>
    /// <param name="cancellationToken">The caller's token.</param>
    /// <returns>The scope of the call; dispose it when the body completes.</returns>
    public static ValueTask<EtcdLockScope> EnterSemaphoreAsync(IEtcdLockProvider provider, string key, int maxCount, int ttlSeconds, int waitTimeoutMilliseconds, LockBusyBehavior whenBusy, CancellationToken cancellationToken) =>
        EnterKindAsync(provider, key, ScopeKind.Semaphore, maxCount, ttlSeconds, waitTimeoutMilliseconds, whenBusy, cancellationToken);

    /// <summary>Acquires a read hold for one call of a generated <see cref="EtcdReadLockAttribute"/> wrapper.</summary>
    /// <param name="provider">The containing type's lock provider.</param>
    /// <param name="key">The formatted key (without the provider's prefix).</param>
    /// <param name="ttlSeconds">The attribute's TTL; 0 uses the provider's default.</param>
    /// <param name="waitTimeoutMilliseconds">The attribute's wait timeout: -1 waits without limit, 0 is one attempt.</param>
    /// <param name="whenBusy">What to do when the lock stays busy.</param>
    /// <param name="cancellationToken">The caller's token.</param>
    /// <returns>The scope of the call; dispose it when the body completes.</returns>
    public static ValueTask<EtcdLockScope> EnterReadLockAsync(IEtcdLockProvider provider, string key, int ttlSeconds, int waitTimeoutMilliseconds, LockBusyBehavior whenBusy, CancellationToken cancellationToken) =>
        EnterKindAsync(provider, key, ScopeKind.Read, 0, ttlSeconds, waitTimeoutMilliseconds, whenBusy, cancellationToken);

    /// <summary>Acquires a write hold for one call of a generated <see cref="EtcdWriteLockAttribute"/> wrapper.</summary>
    /// <param name="provider">The containing type's lock provider.</param>
    /// <param name="key">The formatted key (without the provider's prefix).</param>
    /// <param name="ttlSeconds">The attribute's TTL; 0 uses the provider's default.</param>
    /// <param name="waitTimeoutMilliseconds">The attribute's wait timeout: -1 waits without limit, 0 is one attempt.</param>
    /// <param name="whenBusy">What to do when the lock stays busy.</param>
    /// <param name="cancellationToken">The caller's token.</param>
    /// <returns>The scope of the call; dispose it when the body completes.</returns>
    public static ValueTask<EtcdLockScope> EnterWriteLockAsync(IEtcdLockProvider provider, string key, int ttlSeconds, int waitTimeoutMilliseconds, LockBusyBehavior whenBusy, CancellationToken cancellationToken) =>
        EnterKindAsync(provider, key, ScopeKind.Write, 0, ttlSeconds, waitTimeoutMilliseconds, whenBusy, cancellationToken);

    /// <summary>Runs the body of a generated <see cref="EtcdLeaderAttribute"/> wrapper while this instance leads (see <see cref="EtcdLeadership.RunAsync"/>).</summary>
    /// <param name="provider">The containing type's lock provider.</param>
    /// <param name="election">The formatted election key (without the provider's prefix).</param>
    /// <param name="ttlSeconds">The attribute's TTL; 0 uses the provider's default.</param>
    /// <param name="whileLeading">Calls the user's Core method with the leadership's token.</param>
    /// <param name="stoppingToken">The caller's token: cancelling it resigns and ends the call.</param>
    /// <returns>A task that completes when the election ends for this instance.</returns>
    public static Task LeadAsync(IEtcdLockProvider provider, string election, int ttlSeconds, Func<CancellationToken, Task> whileLeading, CancellationToken stoppingToken)
    {
        if (provider is null)
        {
            return Task.FromException(new InvalidOperationException($"The lock provider for election '{election}' is null: the containing type's IEtcdLockProvider member was not set."));
        }

        var options = new EtcdLockOptions { TtlSeconds = ttlSeconds > 0 ? ttlSeconds : null };
        return EtcdLeadership.RunAsync(provider, election, options, whileLeading, stoppingToken, (provider as EtcdLockProvider)?.Logger);
    }

    private static ValueTask<EtcdLockScope> EnterKindAsync(IEtcdLockProvider provider, string key, ScopeKind kind, int maxCount, int ttlSeconds, int waitTimeoutMilliseconds, LockBusyBehavior whenBusy, CancellationToken cancellationToken)
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
        EtcdLockScope frame = EtcdLockScope.Push(provider, key, kind, maxCount);
        return EnterKindCoreAsync(provider, frame, key, kind, maxCount, options, whenBusy == LockBusyBehavior.Skip, cancellationToken);
    }

    private static async ValueTask<EtcdLockScope> EnterKindCoreAsync(IEtcdLockProvider provider, EtcdLockScope frame, string key, ScopeKind kind, int maxCount, EtcdLockOptions options, bool skip, CancellationToken cancellationToken)
    {
        try
        {
            (EtcdLockHandle? handle, bool busy) = await Nesting.TryEnterNestedAsync(frame, options.WaitTimeout!.Value, throwWhenBusy: !skip, cancellationToken).ConfigureAwait(false);
            if (handle is null && !busy)
            {
                handle = (kind, skip) switch
                {
                    (ScopeKind.Semaphore, true) => await provider.TryAcquireSemaphoreAsync(key, maxCount, options, cancellationToken).ConfigureAwait(false),
                    (ScopeKind.Semaphore, false) => await provider.AcquireSemaphoreAsync(key, maxCount, options, cancellationToken).ConfigureAwait(false),
                    (ScopeKind.Read, true) => await provider.TryAcquireReadLockAsync(key, options, cancellationToken).ConfigureAwait(false),
                    (ScopeKind.Read, false) => await provider.AcquireReadLockAsync(key, options, cancellationToken).ConfigureAwait(false),
                    (ScopeKind.Write, true) => await provider.TryAcquireWriteLockAsync(key, options, cancellationToken).ConfigureAwait(false),
                    _ => await provider.AcquireWriteLockAsync(key, options, cancellationToken).ConfigureAwait(false),
                };
                handle?.Hold.SetRootFrame(frame);
            }

            if (handle is null)
            {
                frame.Close();
                return frame; // skipped: closed, no handle
            }

            frame.Enter(handle, cancellationToken);
            return frame;
        }
        catch
        {
            frame.Close();
            throw;
        }
    }
}
