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

/// <summary>One acquire recorded by <see cref="InMemoryEtcdLockProvider"/>, for assertions in tests.</summary>
/// <param name="Key">The full key (prefix included).</param>
/// <param name="Outcome">How the acquire ended.</param>
/// <param name="FencingToken">The fencing token of the hold when acquired; otherwise <c>null</c>.</param>
/// <param name="TtlSeconds">The TTL asked for (the provider's default when the caller gave none).</param>
/// <param name="WaitTimeout">The wait asked for (<see cref="Timeout.InfiniteTimeSpan"/>: no limit; zero: one attempt).</param>
public sealed record LockAcquisition(string Key, LockAcquisitionOutcome Outcome, long? FencingToken, int TtlSeconds, TimeSpan WaitTimeout);
