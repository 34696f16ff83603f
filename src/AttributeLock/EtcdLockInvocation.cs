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
}
