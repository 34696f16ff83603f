namespace AttributeLock.DistributedLock;

/// <summary>Settings of an <see cref="EtcdDistributedSynchronizationProvider"/>.</summary>
public sealed class EtcdDistributedLockOptions
{
    /// <summary>
    /// The key budget, in UTF-8 bytes, when <see cref="MaxKeyBytes"/> is not set: 1024, however the provider is built
    /// (over an engine, from the engine's options, or through dependency injection), so that one name has one key in
    /// every process. It fits the engine's default <see cref="EtcdLockProviderOptions.MaxKeyBytes"/> (4096) with room
    /// for any key prefix up to 3072 bytes.
    /// </summary>
    public const int DefaultMaxKeyBytes = 1024;

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
    /// <c>null</c> (the default) means <see cref="DefaultMaxKeyBytes"/> (1024), whatever the engine's options: the key
    /// of a name depends on this budget, so every process that shares locks must use the same one (a process built
    /// another way would take another key for a long name and not exclude the others). Must leave room for the prefix
    /// and the 66-character hash suffix, and fit what the engine allows after its own key prefix
    /// (<see cref="EtcdLockProviderOptions.MaxKeyBytes"/> less <see cref="EtcdLockProviderOptions.KeyPrefix"/>; checked
    /// at construction when the provider knows the engine's options).
    /// </summary>
    public int? MaxKeyBytes { get; set; }

    /// <summary>
    /// The time to live, in seconds, of each hold's etcd lease: how long a lock stays held after its process stopped
    /// renewing it (crash, network partition). <c>null</c> (the default) uses the engine's
    /// <see cref="EtcdLockProviderOptions.DefaultTtlSeconds"/>.
    /// </summary>
    public int? TtlSeconds { get; set; }
}
