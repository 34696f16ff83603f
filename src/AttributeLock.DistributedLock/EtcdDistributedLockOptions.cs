namespace AttributeLock.DistributedLock;

/// <summary>Settings of an <see cref="EtcdDistributedSynchronizationProvider"/>.</summary>
public sealed class EtcdDistributedLockOptions
{
    /// <summary>
    /// Put before every lock's escaped name to form its key, inside the engine's own
    /// <see cref="EtcdLockProviderOptions.KeyPrefix"/>. Must not be empty nor contain an unpaired UTF-16 surrogate.
    /// Default: <c>/distributedlock/</c>, which keeps DistributedLock's names apart from the keys of
    /// <see cref="EtcdLockAttribute"/> methods.
    /// </summary>
    public string KeyPrefix { get; set; } = "/distributedlock/";

    /// <summary>
    /// The longest key this provider gives the engine, in UTF-8 bytes, <see cref="KeyPrefix"/> included (the engine's
    /// <see cref="EtcdLockProviderOptions.KeyPrefix"/> not included). Names whose escaped key would be longer are
    /// shortened and end with a SHA-256 of the name (see <see cref="EtcdDistributedSynchronizationProvider.GetKey"/>).
    /// <c>null</c> (the default) uses the whole budget the engine allows
    /// (<see cref="EtcdLockProviderOptions.MaxKeyBytes"/> less its key prefix) when the provider knows the engine's
    /// options, otherwise 1024. Must leave room for the prefix and the 66-character hash suffix.
    /// </summary>
    public int? MaxKeyBytes { get; set; }

    /// <summary>
    /// The time to live, in seconds, of each hold's etcd lease: how long a lock stays held after its process stopped
    /// renewing it (crash, network partition). <c>null</c> (the default) uses the engine's
    /// <see cref="EtcdLockProviderOptions.DefaultTtlSeconds"/>.
    /// </summary>
    public int? TtlSeconds { get; set; }
}
