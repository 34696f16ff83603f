namespace AttributeLock.Testing;

/// <summary>How one acquire on an <see cref="InMemoryEtcdLockProvider"/> ended.</summary>
public enum LockAcquisitionOutcome
{
    /// <summary>The lock was acquired.</summary>
    Acquired,

    /// <summary>The lock was busy: a single attempt returned <c>null</c>, or the wait timed out.</summary>
    Busy,

    /// <summary>The caller's token was cancelled while it waited.</summary>
    Cancelled,
}

/// <summary>What one acquire on an <see cref="InMemoryEtcdLockProvider"/> asked for.</summary>
public enum LockAcquisitionKind
{
    /// <summary>An exclusive lock (<see cref="IEtcdLockProvider.AcquireAsync"/>, <see cref="IEtcdLockProvider.TryAcquireAsync"/>).</summary>
    Lock,

    /// <summary>A semaphore's place (<see cref="IEtcdLockProvider.AcquireSemaphoreAsync"/>, <see cref="IEtcdLockProvider.TryAcquireSemaphoreAsync"/>).</summary>
    Semaphore,

    /// <summary>The read side of a reader-writer lock (<see cref="IEtcdLockProvider.AcquireReadLockAsync"/>, <see cref="IEtcdLockProvider.TryAcquireReadLockAsync"/>).</summary>
    ReadLock,

    /// <summary>The write side of a reader-writer lock (<see cref="IEtcdLockProvider.AcquireWriteLockAsync"/>, <see cref="IEtcdLockProvider.TryAcquireWriteLockAsync"/>).</summary>
    WriteLock,

    /// <summary>A campaign in an election (<see cref="IEtcdLockProvider.CampaignAsync"/>); "acquired" means it leads.</summary>
    Campaign,
}

/// <summary>One acquire recorded by <see cref="InMemoryEtcdLockProvider"/>, for assertions in tests.</summary>
/// <param name="Key">The full key (prefix included): the lock's key, or the semaphore's, reader-writer lock's or
/// election's key (not the ticket key under it that the handle names).</param>
/// <param name="Outcome">How the acquire ended.</param>
/// <param name="FencingToken">The fencing token of the hold when acquired; otherwise <c>null</c>.</param>
/// <param name="TtlSeconds">The TTL asked for (the provider's default when the caller gave none).</param>
/// <param name="WaitTimeout">The wait asked for (<see cref="Timeout.InfiniteTimeSpan"/>: no limit; zero: one attempt).</param>
public sealed record LockAcquisition(string Key, LockAcquisitionOutcome Outcome, long? FencingToken, int TtlSeconds, TimeSpan WaitTimeout)
{
    /// <summary>What was asked for: a lock (the default), a semaphore's place, a read or write hold, or leadership.</summary>
    public LockAcquisitionKind Kind { get; init; }
}
