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
}
