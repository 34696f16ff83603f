using System.Threading;

namespace AttributeLock;

/// <summary>
/// Marks a <c>partial</c> method whose every call holds one of <see cref="MaxCount"/> tickets of a distributed
/// semaphore in etcd: at most <see cref="MaxCount"/> calls run at once across all processes. The generated body works
/// as <see cref="EtcdLockAttribute"/>'s does (key template, wait, skip when busy, <see cref="EtcdLockContext.Current"/>,
/// the token that fires when the ticket is lost, release in <c>finally</c>); see
/// <see cref="IEtcdLockProvider.AcquireSemaphoreAsync"/>.
/// </summary>
/// <example>
/// <code>
/// [EtcdSemaphore("/reports/&lt;kind&gt;", MaxCount = 3, Ttl = 10)]
/// public partial Task&lt;Report&gt; BuildAsync(string kind, CancellationToken ct);
/// </code>
/// </example>
[AttributeUsage(AttributeTargets.Method, AllowMultiple = false, Inherited = false)]
public sealed class EtcdSemaphoreAttribute : Attribute
{
    /// <summary>Creates the attribute with the semaphore's key template.</summary>
    /// <param name="keyTemplate">The key, as for <see cref="EtcdLockAttribute(string)"/>.</param>
    public EtcdSemaphoreAttribute(string keyTemplate) => KeyTemplate = keyTemplate;

    /// <summary>The key template, as for <see cref="EtcdLockAttribute.KeyTemplate"/>.</summary>
    public string KeyTemplate { get; }

    /// <summary>
    /// How many calls may hold a ticket at once, across all processes; at least 1 (checked at compile time). Every
    /// user of one semaphore key must set the same value: a call that meets a ticket taken with another value fails
    /// with <see cref="InvalidOperationException"/> naming both.
    /// </summary>
    public int MaxCount { get; set; }

    /// <summary>The lease's time to live in seconds, as for <see cref="EtcdLockAttribute.Ttl"/>.</summary>
    public int Ttl { get; set; }

    /// <summary>How long a call waits for a ticket, as for <see cref="EtcdLockAttribute.WaitTimeoutMilliseconds"/>.</summary>
    public int WaitTimeoutMilliseconds { get; set; } = Timeout.Infinite;

    /// <summary>What a call does when no ticket was free in time, as for <see cref="EtcdLockAttribute.WhenBusy"/>.</summary>
    public LockBusyBehavior WhenBusy { get; set; } = LockBusyBehavior.Throw;
}

/// <summary>
/// Marks a <c>partial</c> method whose every call holds the read side of a distributed reader-writer lock in etcd:
/// calls run side by side with other readers of the same key, never beside a writer
/// (<see cref="EtcdWriteLockAttribute"/>). See <see cref="IEtcdLockProvider.AcquireReadLockAsync"/>; the generated body
/// works as <see cref="EtcdLockAttribute"/>'s does.
/// </summary>
/// <remarks>
/// A read call nested in a write call on the same key (same provider and flow) runs under the write hold. A write call
/// nested in a read call on the same key fails at once with <see cref="InvalidOperationException"/>: an upgrade would
/// wait for its own read hold (and two readers upgrading would wait for each other forever).
/// </remarks>
[AttributeUsage(AttributeTargets.Method, AllowMultiple = false, Inherited = false)]
public sealed class EtcdReadLockAttribute : Attribute
{
    /// <summary>Creates the attribute with the lock's key template.</summary>
    /// <param name="keyTemplate">The key, as for <see cref="EtcdLockAttribute(string)"/>; the same as the writers'.</param>
    public EtcdReadLockAttribute(string keyTemplate) => KeyTemplate = keyTemplate;

    /// <summary>The key template, as for <see cref="EtcdLockAttribute.KeyTemplate"/>.</summary>
    public string KeyTemplate { get; }

    /// <summary>The lease's time to live in seconds, as for <see cref="EtcdLockAttribute.Ttl"/>.</summary>
    public int Ttl { get; set; }

    /// <summary>How long a call waits, as for <see cref="EtcdLockAttribute.WaitTimeoutMilliseconds"/>.</summary>
    public int WaitTimeoutMilliseconds { get; set; } = Timeout.Infinite;

    /// <summary>What a call does when the lock stayed busy, as for <see cref="EtcdLockAttribute.WhenBusy"/>.</summary>
    public LockBusyBehavior WhenBusy { get; set; } = LockBusyBehavior.Throw;
}

/// <summary>
/// Marks a <c>partial</c> method whose every call holds the write side of a distributed reader-writer lock in etcd:
/// alone, beside no reader (<see cref="EtcdReadLockAttribute"/>) and no other writer of the same key. See
/// <see cref="IEtcdLockProvider.AcquireWriteLockAsync"/>; the generated body works as <see cref="EtcdLockAttribute"/>'s does.
/// </summary>
[AttributeUsage(AttributeTargets.Method, AllowMultiple = false, Inherited = false)]
public sealed class EtcdWriteLockAttribute : Attribute
{
    /// <summary>Creates the attribute with the lock's key template.</summary>
    /// <param name="keyTemplate">The key, as for <see cref="EtcdLockAttribute(string)"/>; the same as the readers'.</param>
    public EtcdWriteLockAttribute(string keyTemplate) => KeyTemplate = keyTemplate;

    /// <summary>The key template, as for <see cref="EtcdLockAttribute.KeyTemplate"/>.</summary>
    public string KeyTemplate { get; }

    /// <summary>The lease's time to live in seconds, as for <see cref="EtcdLockAttribute.Ttl"/>.</summary>
    public int Ttl { get; set; }

    /// <summary>How long a call waits, as for <see cref="EtcdLockAttribute.WaitTimeoutMilliseconds"/>.</summary>
    public int WaitTimeoutMilliseconds { get; set; } = Timeout.Infinite;

    /// <summary>What a call does when the lock stayed busy, as for <see cref="EtcdLockAttribute.WhenBusy"/>.</summary>
    public LockBusyBehavior WhenBusy { get; set; } = LockBusyBehavior.Throw;
}

/// <summary>
/// Marks a <c>partial</c> method returning <see cref="System.Threading.Tasks.Task"/>, typically a
/// <c>BackgroundService</c>'s <c>protected override partial Task ExecuteAsync(CancellationToken stoppingToken)</c>, whose
/// body (<c>&lt;Name&gt;Core</c>) runs only while this instance leads an election in etcd. The generated body runs
/// <see cref="EtcdLeadership.RunAsync"/>: it campaigns, runs the body while leading with a token that fires when
/// leadership is lost or the caller's token is cancelled, campaigns again after a loss, and resigns at once when the
/// caller's token is cancelled (host stop), so another instance takes over without waiting for the TTL.
/// </summary>
/// <remarks>
/// A body that returns while still leading ends the election for this instance: it resigns and the call completes (a
/// <c>BackgroundService</c> whose <c>ExecuteAsync</c> returns is done). A body that throws (other than for the loss or
/// the stop) resigns, is logged, and campaigns again after a backoff. Inside the body <see cref="EtcdLockContext.Current"/>
/// is the leadership: its fencing token is the leader key's create revision, and its guarded writes apply only while
/// this instance leads.
/// </remarks>
[AttributeUsage(AttributeTargets.Method, AllowMultiple = false, Inherited = false)]
public sealed class EtcdLeaderAttribute : Attribute
{
    /// <summary>Creates the attribute with the election's key template.</summary>
    /// <param name="keyTemplate">The election's key, as for <see cref="EtcdLockAttribute(string)"/>.</param>
    public EtcdLeaderAttribute(string keyTemplate) => KeyTemplate = keyTemplate;

    /// <summary>The key template, as for <see cref="EtcdLockAttribute.KeyTemplate"/>.</summary>
    public string KeyTemplate { get; }

    /// <summary>
    /// The lease's time to live in seconds: how long leadership survives a leader that stopped renewing it (a crashed
    /// or paused process) before another instance takes over. 0 uses the provider's default.
    /// </summary>
    public int Ttl { get; set; }
}
