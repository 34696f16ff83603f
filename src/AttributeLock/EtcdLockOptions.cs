namespace AttributeLock;

/// <summary>Options of one lock acquisition.</summary>
public sealed record EtcdLockOptions
{
    /// <summary>
    /// The lease's time to live in seconds; <c>null</c> uses <see cref="EtcdLockProviderOptions.DefaultTtlSeconds"/>.
    /// etcd may raise a very small value to its minimum lease TTL.
    /// </summary>
    public int? TtlSeconds { get; init; }

    /// <summary>
    /// How long to wait while another holder has the lock. <c>null</c> means: wait without limit
    /// for <see cref="IEtcdLockProvider.AcquireAsync"/>, one attempt for <see cref="IEtcdLockProvider.TryAcquireAsync"/>.
    /// <see cref="TimeSpan.Zero"/> is one attempt; <see cref="Timeout.InfiniteTimeSpan"/> waits without limit.
    /// </summary>
    public TimeSpan? WaitTimeout { get; init; }

    /// <summary>
    /// The least time the key stays taken, counted from the moment the lock was acquired (ShedLock's
    /// <c>lockAtLeastFor</c>): a release before that leaves the key in etcd, on a lease of its own that nobody renews,
    /// until the time has passed, so that callers of any process (this one included) find the lock busy meanwhile.
    /// <c>null</c> or <see cref="TimeSpan.Zero"/>: none, the release frees the key at once.
    /// </summary>
    /// <remarks>
    /// Meant for jobs that a timer starts on every instance: with <see cref="IEtcdLockProvider.TryAcquireAsync"/> (or
    /// <see cref="LockBusyBehavior.Skip"/>), an instance whose timer fires a little later than the first one's finds the
    /// key taken even when the first run was quick, and skips that run. The key's lease gets a TTL of the time left,
    /// rounded up to whole seconds (etcd may raise it to its minimum lease TTL, 2 s with default settings), so the key
    /// may stay up to that much longer. The minimum also holds when the body throws and when the provider is disposed
    /// while the lock is held; it does not when the hold was lost (the key is no longer ours to keep). It must be zero
    /// or positive and at most <see cref="int.MaxValue"/> seconds (what a lease TTL expresses here).
    /// </remarks>
    public TimeSpan? HoldAtLeast { get; init; }
}
