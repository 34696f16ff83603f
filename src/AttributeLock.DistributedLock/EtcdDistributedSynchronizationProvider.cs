using Medallion.Threading;

namespace AttributeLock.DistributedLock;

/// <summary>
/// DistributedLock's <see cref="IDistributedLockProvider"/>, <see cref="IDistributedSemaphoreProvider"/> and
/// <see cref="IDistributedReaderWriterLockProvider"/> on etcd, over AttributeLock's <see cref="IEtcdLockProvider"/>: code
/// written against <see cref="IDistributedLock"/>, <see cref="IDistributedSemaphore"/> or
/// <see cref="IDistributedReaderWriterLock"/> (Medallion.Threading) takes its locks in etcd.
/// </summary>
/// <remarks>
/// <para>
/// Names: any string is a valid name, the empty one and ones with <c>/</c>, control characters or unpaired UTF-16
/// surrogates included. Each name maps to one etcd key (see <see cref="GetKey"/>), and two different names never share a
/// key: names are case-sensitive and compared ordinally. A name's key depends only on the name,
/// <see cref="EtcdDistributedLockOptions.KeyPrefix"/> and <see cref="EtcdDistributedLockOptions.MaxKeyBytes"/> (by default
/// <see cref="EtcdDistributedLockOptions.DefaultMaxKeyBytes"/>), never on how the provider was built: processes that
/// share locks must agree on those two options.
/// </para>
/// <para>
/// One provider per process and etcd cluster is enough; creating locks is cheap (no I/O). A provider built from
/// <see cref="EtcdLockProviderOptions"/> owns its engine and disposes it; one built over an
/// <see cref="IEtcdLockProvider"/> leaves it to its owner.
/// </para>
/// <para>
/// A lock, a semaphore and a reader-writer lock of one name take different etcd keys (the lock takes
/// <see cref="GetKey"/> itself, the others put keys under it), so they never exclude each other. There is no
/// <see cref="IDistributedUpgradeableReaderWriterLockProvider"/>: see <see cref="EtcdDistributedReaderWriterLock"/> for
/// why an upgrade has no sound protocol on this layout (two readers that both upgrade wait for each other forever).
/// </para>
/// </remarks>
public sealed class EtcdDistributedSynchronizationProvider : IDistributedLockProvider, IDistributedSemaphoreProvider, IDistributedReaderWriterLockProvider, IAsyncDisposable, IDisposable
{
    private readonly IEtcdLockProvider _locks;
    private readonly EtcdLockProvider? _owned;
    private readonly string _prefix;
    private readonly int _prefixBytes;
    private readonly int _maxKeyBytes;
    private readonly int? _ttlSeconds;

    /// <summary>Creates a provider over an existing engine, which stays its owner's to dispose.</summary>
    /// <param name="locks">The engine, for example the <see cref="EtcdLockProvider"/> registered by <c>AddEtcdLocks</c>.</param>
    /// <param name="options">Key prefix, key budget and lease TTL; <c>null</c> uses the defaults.</param>
    /// <remarks>
    /// The engine's options are unknown here, so a key budget too large for the engine is found only when a long name is
    /// acquired (the engine refuses the key with <see cref="ArgumentException"/>).
    /// </remarks>
    /// <exception cref="ArgumentNullException"><paramref name="locks"/> is null.</exception>
    /// <exception cref="ArgumentException">An option is invalid.</exception>
    public EtcdDistributedSynchronizationProvider(IEtcdLockProvider locks, EtcdDistributedLockOptions? options = null)
        : this(locks ?? throw new ArgumentNullException(nameof(locks)), owned: null, options, engineBudget: null)
    {
    }

    /// <summary>Creates a provider with its own <see cref="EtcdLockProvider"/>, disposed with this provider.</summary>
    /// <param name="engineOptions">Endpoints, engine key prefix, credentials and timeouts of the engine.</param>
    /// <param name="options">Key prefix, key budget and lease TTL; <c>null</c> uses the defaults.</param>
    /// <exception cref="ArgumentNullException"><paramref name="engineOptions"/> is null.</exception>
    /// <exception cref="ArgumentException">An option is invalid.</exception>
    public EtcdDistributedSynchronizationProvider(EtcdLockProviderOptions engineOptions, EtcdDistributedLockOptions? options = null)
        : this(Create(engineOptions, options, out int budget), budget, options)
    {
    }

    private EtcdDistributedSynchronizationProvider(EtcdLockProvider owned, int engineBudget, EtcdDistributedLockOptions? options)
        : this(owned, owned, options, engineBudget)
    {
    }

    /// <summary>
    /// The common constructor; <paramref name="engineBudget"/> is the key budget the engine leaves, when known: it is
    /// only checked against, never used as the budget.
    /// </summary>
    internal EtcdDistributedSynchronizationProvider(IEtcdLockProvider locks, EtcdLockProvider? owned, EtcdDistributedLockOptions? options, int? engineBudget)
    {
        _locks = locks;
        _owned = owned;
        options ??= new EtcdDistributedLockOptions();
        _prefix = options.KeyPrefix ?? throw new ArgumentNullException(nameof(options), "EtcdDistributedLockOptions.KeyPrefix is null.");
        if (_prefix.Length == 0)
        {
            throw new ArgumentException("EtcdDistributedLockOptions.KeyPrefix is empty; it must hold at least one character (the default is '/distributedlock/').", nameof(options));
        }

        _prefixBytes = EtcdLockNames.Utf8Length(_prefix, nameof(options));
        // One budget whatever the construction path: a name's key must not depend on how a process built its provider,
        // or two processes would take two keys for one long name and not exclude each other.
        _maxKeyBytes = options.MaxKeyBytes ?? EtcdDistributedLockOptions.DefaultMaxKeyBytes;
        int least = _prefixBytes + EtcdLockNames.HashSuffixLength;
        if (_maxKeyBytes < least)
        {
            throw new ArgumentOutOfRangeException(nameof(options), _maxKeyBytes,
                $"EtcdDistributedLockOptions.MaxKeyBytes must leave room for the key prefix ({_prefixBytes} bytes) and a hashed name ({EtcdLockNames.HashSuffixLength} bytes): at least {least}.");
        }

        if (engineBudget is { } budget && _maxKeyBytes > budget)
        {
            throw new ArgumentOutOfRangeException(nameof(options), _maxKeyBytes, options.MaxKeyBytes is null
                ? $"The engine allows {budget} bytes after its key prefix (EtcdLockProviderOptions.MaxKeyBytes less KeyPrefix), fewer than this provider's default key budget of {EtcdDistributedLockOptions.DefaultMaxKeyBytes}: set EtcdDistributedLockOptions.MaxKeyBytes to at most {budget}, the same in every process that shares these locks."
                : $"EtcdDistributedLockOptions.MaxKeyBytes is larger than the engine allows after its key prefix ({budget} bytes).");
        }

        if (options.TtlSeconds is < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(options), options.TtlSeconds, "EtcdDistributedLockOptions.TtlSeconds must be at least 1.");
        }

        _ttlSeconds = options.TtlSeconds;
    }

    /// <summary>The engine this provider takes its locks through.</summary>
    public IEtcdLockProvider Engine => _locks;

    /// <summary>The longest key, in UTF-8 bytes, this provider gives the engine (see <see cref="EtcdDistributedLockOptions.MaxKeyBytes"/>).</summary>
    public int MaxKeyBytes => _maxKeyBytes;

    /// <summary>Creates the lock named <paramref name="name"/> (no I/O).</summary>
    /// <param name="name">Any string; see <see cref="GetKey"/> for the key it takes.</param>
    /// <returns>The lock.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="name"/> is null.</exception>
    public EtcdDistributedLock CreateLock(string name) => new(_locks, name, GetKey(name), _ttlSeconds);

    /// <inheritdoc cref="CreateLock(string)" />
    IDistributedLock IDistributedLockProvider.CreateLock(string name) => CreateLock(name);

    /// <summary>Creates the semaphore named <paramref name="name"/> with <paramref name="maxCount"/> places (no I/O).</summary>
    /// <param name="name">Any string; see <see cref="GetKey"/> for the key its tickets are put under.</param>
    /// <param name="maxCount">How many holders at most, at least 1; every process must create the semaphore of one name
    /// with the same value (an acquire that finds another value fails).</param>
    /// <returns>The semaphore.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="name"/> is null.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="maxCount"/> is less than 1.</exception>
    public EtcdDistributedSemaphore CreateSemaphore(string name, int maxCount)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxCount, 1);
        return new(_locks, name, GetKey(name), maxCount, _ttlSeconds);
    }

    /// <inheritdoc cref="CreateSemaphore(string, int)" />
    IDistributedSemaphore IDistributedSemaphoreProvider.CreateSemaphore(string name, int maxCount) => CreateSemaphore(name, maxCount);

    /// <summary>Creates the reader-writer lock named <paramref name="name"/> (no I/O).</summary>
    /// <param name="name">Any string; see <see cref="GetKey"/> for the key its readers and writers are put under.</param>
    /// <returns>The reader-writer lock.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="name"/> is null.</exception>
    public EtcdDistributedReaderWriterLock CreateReaderWriterLock(string name) => new(_locks, name, GetKey(name), _ttlSeconds);

    /// <inheritdoc cref="CreateReaderWriterLock(string)" />
    IDistributedReaderWriterLock IDistributedReaderWriterLockProvider.CreateReaderWriterLock(string name) => CreateReaderWriterLock(name);

    /// <summary>
    /// The key the lock named <paramref name="name"/> takes through the engine (which puts its own key prefix before it):
    /// the counterpart of DistributedLock's <c>GetSafeName</c>.
    /// </summary>
    /// <param name="name">Any string.</param>
    /// <returns>
    /// <see cref="EtcdDistributedLockOptions.KeyPrefix"/> followed by the name escaped: <c>%</c>, <c>/</c> and control
    /// characters become <c>%XX</c> (two uppercase hexadecimal digits), an unpaired surrogate becomes <c>%uXXXX</c>, and
    /// every other character stays as it is. When that key is longer than <see cref="MaxKeyBytes"/> UTF-8 bytes, it is
    /// cut (at a character or escape boundary) so that <c>%#</c> and the SHA-256 of the name's UTF-16 code units
    /// (64 lowercase hexadecimal digits) fit after it. Escaping is reversible and an escaped name never contains
    /// <c>%#</c>, so two different names never get the same key (short of a SHA-256 collision); the same name always
    /// gets the same key, in every process and version that uses the same prefix and budget.
    /// </returns>
    /// <exception cref="ArgumentNullException"><paramref name="name"/> is null.</exception>
    public string GetKey(string name) => EtcdLockNames.ToKey(name, _prefix, _prefixBytes, _maxKeyBytes);

    /// <summary>Disposes the engine when this provider created it; otherwise does nothing.</summary>
    /// <returns>A task that completes when the engine has stopped.</returns>
    public ValueTask DisposeAsync() => _owned?.DisposeAsync() ?? default;

    /// <summary>Same as <see cref="DisposeAsync"/>, blocking.</summary>
    public void Dispose() => _owned?.Dispose();

    private static EtcdLockProvider Create(EtcdLockProviderOptions engineOptions, EtcdDistributedLockOptions? options, out int budget)
    {
        ArgumentNullException.ThrowIfNull(engineOptions);
        budget = EngineBudget(engineOptions);

        // Check the options before a connection exists, so that a bad option leaks nothing.
        _ = new EtcdDistributedSynchronizationProvider(NoEngine.Instance, owned: null, options, budget);
        return new EtcdLockProvider(engineOptions);
    }

    /// <summary>What the engine's <see cref="EtcdLockProviderOptions.MaxKeyBytes"/> leaves after its key prefix.</summary>
    internal static int EngineBudget(EtcdLockProviderOptions engineOptions) =>
        engineOptions.MaxKeyBytes - EtcdLockNames.Utf8Length(engineOptions.KeyPrefix ?? "", nameof(engineOptions));

    /// <summary>Stands in for the engine while options are checked.</summary>
    private sealed class NoEngine : IEtcdLockProvider
    {
        internal static readonly NoEngine Instance = new();

        public ValueTask<EtcdLockHandle> AcquireAsync(string key, EtcdLockOptions? options = null, CancellationToken cancellationToken = default) =>
            throw new NotSupportedException();

        public ValueTask<EtcdLockHandle?> TryAcquireAsync(string key, EtcdLockOptions? options = null, CancellationToken cancellationToken = default) =>
            throw new NotSupportedException();

        public ValueTask<EtcdLockHandle> AcquireSemaphoreAsync(string key, int maxCount, EtcdLockOptions? options = null, CancellationToken cancellationToken = default) =>
            throw new NotSupportedException();

        public ValueTask<EtcdLockHandle?> TryAcquireSemaphoreAsync(string key, int maxCount, EtcdLockOptions? options = null, CancellationToken cancellationToken = default) =>
            throw new NotSupportedException();

        public ValueTask<EtcdLockHandle> AcquireReadLockAsync(string key, EtcdLockOptions? options = null, CancellationToken cancellationToken = default) =>
            throw new NotSupportedException();

        public ValueTask<EtcdLockHandle?> TryAcquireReadLockAsync(string key, EtcdLockOptions? options = null, CancellationToken cancellationToken = default) =>
            throw new NotSupportedException();

        public ValueTask<EtcdLockHandle> AcquireWriteLockAsync(string key, EtcdLockOptions? options = null, CancellationToken cancellationToken = default) =>
            throw new NotSupportedException();

        public ValueTask<EtcdLockHandle?> TryAcquireWriteLockAsync(string key, EtcdLockOptions? options = null, CancellationToken cancellationToken = default) =>
            throw new NotSupportedException();

        public ValueTask<EtcdLockHandle> CampaignAsync(string election, EtcdLockOptions? options = null, CancellationToken cancellationToken = default) =>
            throw new NotSupportedException();

        public ValueTask<EtcdLeaderInfo?> GetLeaderAsync(string election, CancellationToken cancellationToken = default) =>
            throw new NotSupportedException();

        public IAsyncEnumerable<EtcdLeaderInfo?> ObserveLeaderAsync(string election, CancellationToken cancellationToken = default) =>
            throw new NotSupportedException();
    }
}
