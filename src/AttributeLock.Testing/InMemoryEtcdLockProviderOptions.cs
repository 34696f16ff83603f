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
}
