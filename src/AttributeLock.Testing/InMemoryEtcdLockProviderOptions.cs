namespace AttributeLock.Testing;

/// <summary>Settings of an <see cref="InMemoryEtcdLockProvider"/>, mirroring <see cref="EtcdLockProviderOptions"/>.</summary>
public sealed class InMemoryEtcdLockProviderOptions
{
    /// <summary>Prepended to every lock key, as <see cref="EtcdLockProviderOptions.KeyPrefix"/>. Empty by default.</summary>
    public string KeyPrefix { get; set; } = "";

    /// <summary>The TTL in seconds when a call does not say. Default: 15, as the real provider.</summary>
    public int DefaultTtlSeconds { get; set; } = 15;

    /// <summary>The largest key accepted, in UTF-8 bytes, prefix included. Default: 4096, as the real provider.</summary>
    public int MaxKeyBytes { get; set; } = 4096;

    /// <summary>What <see cref="EtcdLockTimeoutException.Holder"/> names for holds of this provider.</summary>
    public string HolderId { get; set; } = "in-memory provider";

    /// <summary>
    /// The clock wait timeouts (<see cref="EtcdLockOptions.WaitTimeout"/>, a wrapper's
    /// <see cref="EtcdLockAttribute.WaitTimeoutMilliseconds"/>) are measured on, and
    /// <see cref="EtcdLockTimeoutException.Waited"/>. Default: <see cref="TimeProvider.System"/>, the wall clock. Give a
    /// fake one (<c>FakeTimeProvider</c> of Microsoft.Extensions.TimeProvider.Testing) and a test of a long wait timeout
    /// takes no real time: the wait ends when the test advances the fake clock past it.
    /// </summary>
    public TimeProvider TimeProvider { get; set; } = TimeProvider.System;
}
