using System.Threading;

namespace AttributeLock;

/// <summary>
/// Marks a <c>partial</c> method whose every call runs under a distributed lock held in etcd.
/// The AttributeLock source generator supplies the method's body: it formats the key from
/// <see cref="KeyTemplate"/>, acquires the lock through the containing type's
/// <see cref="IEtcdLockProvider"/>, calls the user's <c>&lt;Name&gt;Core</c> method with the same
/// arguments and releases the lock when that call completes.
/// </summary>
/// <example>
/// <code>
/// [EtcdLock("/orders/&lt;id&gt;", Ttl = 5)]
/// public partial Task ShipAsync(int id, CancellationToken ct);
/// private async Task ShipAsyncCore(int id, CancellationToken ct) { ... }
/// </code>
/// </example>
[AttributeUsage(AttributeTargets.Method, AllowMultiple = false, Inherited = false)]
public sealed class EtcdLockAttribute : Attribute
{
    /// <summary>Creates the attribute with the lock's key template.</summary>
    /// <param name="keyTemplate">
    /// The key: literal text plus placeholders <c>&lt;name&gt;</c> bound to parameters, or
    /// <c>&lt;name.Member.Member&gt;</c> for a property or field path. Checked at compile time.
    /// </param>
    public EtcdLockAttribute(string keyTemplate) => KeyTemplate = keyTemplate;

    /// <summary>
    /// The key template, for example <c>/orders/&lt;id&gt;</c>. Each placeholder's value is formatted
    /// culture-invariantly and escaped so that it always stays one key segment; the provider's
    /// key prefix is prepended.
    /// </summary>
    public string KeyTemplate { get; }

    /// <summary>
    /// The lease's time to live in seconds: how long the lock survives a holder that stopped
    /// renewing it (a crashed process). 0 (the default) uses the provider's
    /// <see cref="EtcdLockProviderOptions.DefaultTtlSeconds"/>. A value set explicitly must be at least 1.
    /// </summary>
    public int Ttl { get; set; }

    /// <summary>
    /// How long a call waits for a busy lock, in milliseconds. <see cref="Timeout.Infinite"/> (-1) waits until the lock
    /// is acquired or the caller's <see cref="CancellationToken"/> is cancelled; 0 makes a single attempt. When the wait
    /// ends without the lock, <see cref="WhenBusy"/> decides what happens.
    /// </summary>
    /// <remarks>
    /// Left unset, it depends on <see cref="WhenBusy"/>: with <see cref="LockBusyBehavior.Throw"/> (the default) the
    /// call waits without limit (-1); with <see cref="LockBusyBehavior.Skip"/> it makes a single attempt (0), so a busy
    /// job is skipped instead of waiting for the other holder and then running after it. A value set explicitly is
    /// always used as it is, -1 included. The source generator reads whether the property is set; the property itself
    /// (read by reflection) still returns -1 when it is not.
    /// </remarks>
    public int WaitTimeoutMilliseconds { get; set; } = Timeout.Infinite;

    /// <summary>
    /// What a call does when the lock is still busy after <see cref="WaitTimeoutMilliseconds"/>:
    /// throw an <see cref="EtcdLockTimeoutException"/> (the default) or skip the call. With
    /// <see cref="LockBusyBehavior.Skip"/> and no <see cref="WaitTimeoutMilliseconds"/>, the call makes one attempt.
    /// </summary>
    public LockBusyBehavior WhenBusy { get; set; } = LockBusyBehavior.Throw;

    /// <summary>
    /// The least time the key stays taken, in milliseconds, counted from the moment the lock was acquired (ShedLock's
    /// <c>lockAtLeastFor</c>). 0 (the default): none, the key is freed when the body completes. Must not be negative.
    /// </summary>
    /// <remarks>
    /// For jobs that a timer starts on every instance, with <see cref="LockBusyBehavior.Skip"/>: an instance whose timer
    /// fires a little later than the first one's finds the key still taken, even when the first run was quick, and
    /// skips that run. A body that completes earlier leaves the key in etcd on a lease of its own that nobody renews
    /// and that ends when the minimum has passed (rounded up to whole seconds, or etcd's minimum lease TTL), so the key
    /// frees itself even when the process exits right after. The minimum also holds when the body throws and when the
    /// provider is disposed during the call, not when the hold was lost. A nested call (same key, inside another
    /// wrapper's body) runs under the outer hold, whose own minimum applies. See
    /// <see cref="EtcdLockOptions.HoldAtLeast"/>.
    /// </remarks>
    public int HoldAtLeastMilliseconds { get; set; }
}

/// <summary>What a locked method does when its lock is still busy after the wait timeout.</summary>
public enum LockBusyBehavior
{
    /// <summary>Throw an <see cref="EtcdLockTimeoutException"/> naming the key and its current holder.</summary>
    Throw = 0,

    /// <summary>
    /// Return without running the body: a <c>Task</c>/<c>ValueTask</c> completes, a <c>Task&lt;T&gt;</c>/<c>ValueTask&lt;T&gt;</c>
    /// returns <c>default</c>. Meant for scheduled jobs that must run on one node only: unless
    /// <see cref="EtcdLockAttribute.WaitTimeoutMilliseconds"/> is set, the call makes a single attempt, so a node that
    /// finds the job running skips it rather than running it again after the other node finished.
    /// </summary>
    Skip = 1,
}
