using System.Diagnostics;
using System.Diagnostics.Metrics;
using AttributeLock.Engine;
using AttributeLock.Engine.Lock;
using AttributeLock.Engine.Queue;
using AttributeLock.Engine.Session;
using Google.Protobuf;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace AttributeLock;

/// <summary>
/// The <see cref="IEtcdLockProvider"/> over etcd's v3 API (through dotnet-etcd). One instance per process and etcd
/// cluster is enough: it shares one connection among all locks.
/// </summary>
/// <remarks>
/// This class is the façade: it validates options and keys, and runs the public calls and dispose. The session every
/// primitive shares (connection, leases, key watch, local gates, in-flight work) is in <c>Engine/Session/</c>; the lock
/// protocol, one file per operation, in <c>Engine/Lock/</c> (start with <c>LockAcquire.cs</c>); docs/design.md walks a
/// call through them. Disposing the provider tells every open hold it is lost (<see cref="EtcdLockHandle.LostToken"/>),
/// then revokes their leases and the spare leases it keeps for its next acquires.
/// </remarks>
public sealed class EtcdLockProvider : IEtcdLockProvider, IAsyncDisposable, IDisposable
{
    private readonly EtcdLockProviderOptions _options;
    private readonly EtcdSession _session;
    private readonly LockAcquire _acquire;
    private readonly LockRelease _release;
    private readonly QueueAcquire _queue;
    private readonly ElectionObserver _elections;

    /// <summary>Creates a provider.</summary>
    /// <param name="options">Endpoints, key prefix, credentials, timeouts.</param>
    /// <param name="logger">Where lost holds and failed releases are logged; <c>null</c> logs nothing.</param>
    /// <param name="meterFactory">Creates the library's <see cref="Meter"/>; <c>null</c> creates it directly.</param>
    public EtcdLockProvider(EtcdLockProviderOptions options, ILogger<EtcdLockProvider>? logger = null, IMeterFactory? meterFactory = null)
        : this(options, logger, meterFactory, interceptors: null)
    {
    }

    /// <summary>Creates a provider whose gRPC calls pass through <paramref name="interceptors"/> (tests inject faults here).</summary>
    /// <param name="options">As in the public constructor.</param>
    /// <param name="logger">As in the public constructor.</param>
    /// <param name="meterFactory">As in the public constructor.</param>
    /// <param name="interceptors">The gRPC interceptors every call passes through.</param>
    /// <param name="tune">Changes the engine's settings derived from <paramref name="options"/> (tests shorten intervals).</param>
    internal EtcdLockProvider(EtcdLockProviderOptions options, ILogger? logger, IMeterFactory? meterFactory, Grpc.Core.Interceptors.Interceptor[]? interceptors, Func<EngineSettings, EngineSettings>? tune = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        Validate(options);
        _options = options;
        EngineSettings settings = EngineSettings.From(options, nameof(EtcdLockProvider));
        settings = tune is null ? settings : tune(settings);
        EtcdSession s = _session = new EtcdSession(options, settings, logger ?? NullLogger.Instance, meterFactory, interceptors);
        _release = new LockRelease(s.Calls, s.Grants, s.Work, s.Watcher, s.Gates);
        var holds = new LockHoldHost(s.Calls, s.Watcher, s.Gates, _release);
        _acquire = new LockAcquire(s.Calls, s.Grants, s.Work, s.Gates, s.Keeper, holds, settings);
        _queue = new QueueAcquire(s.Calls, s.Grants, s.Work, s.Gates, holds, _acquire, settings);
        _elections = new ElectionObserver(s.Calls, settings.WatchRecheckInterval);
    }

    /// <summary>
    /// Who this provider is, as written into the value of every key it holds: host name, process id and a
    /// per-provider id.
    /// </summary>
    public string HolderId => _session.Calls.HolderId;

    /// <summary>
    /// When <see cref="RenewalLag"/> reaches this (one second), new acquires wait for the renewals to catch up, at most
    /// <see cref="EtcdLockProviderOptions.ConnectTimeout"/>, then are refused with <see cref="EtcdLockUnavailableException"/>;
    /// the health check reports the provider degraded.
    /// </summary>
    public static TimeSpan RenewalLagLimit => LeaseKeeper.RenewalLagLimit;

    /// <summary>
    /// How far the renewals of the leases this provider keeps are behind now: the age of the oldest renewal etcd has
    /// not answered yet, or how late the process runs its renewal schedule, whichever is more. A few milliseconds when
    /// etcd and the machine keep up; see <see cref="RenewalLagLimit"/>. Published as the
    /// <see cref="EtcdLockTelemetry.RenewalLag"/> gauge.
    /// </summary>
    public TimeSpan RenewalLag => _session.Keeper.RenewalLag();

    /// <summary>
    /// How many lease renewals per second the leases this provider keeps need now: each is renewed every third of its
    /// TTL (at least every 0.5 s), so 10,000 holds of TTL 10 need 3,000. Published as the
    /// <see cref="EtcdLockTelemetry.RenewalDemand"/> gauge.
    /// </summary>
    public double RenewalDemand => _session.Keeper.RenewalDemand();

    /// <summary>
    /// How many lease renewals per second this provider's keep-alive stream was measured to carry (etcd, the connection
    /// and this process together), or <c>null</c> while renewals have not had to queue (far from the limit). While one
    /// more lease would take <see cref="RenewalDemand"/> past <see cref="RenewalCapacityShare"/> of it, new acquires wait,
    /// then are refused with <see cref="EtcdLockUnavailableException"/>, instead of pushing every hold already taken past
    /// its deadline at once; the health check reports the provider degraded. Published as the
    /// <see cref="EtcdLockTelemetry.RenewalCapacity"/> gauge.
    /// </summary>
    public double? RenewalCapacity => _session.Keeper.RenewalCapacity();

    /// <summary>The share of <see cref="RenewalCapacity"/> that new acquires may fill (0.8); the rest is margin.</summary>
    public static double RenewalCapacityShare => LeaseKeeper.CapacityShare;

    /// <summary>The session's logger (the election runner logs lost terms through it).</summary>
    internal ILogger Logger => _session.Calls.Logger;

    /// <summary>The session's connection, for a ping through it (<see cref="EtcdLockProviderPing"/>).</summary>
    internal IEtcdCalls Calls => _session.Calls;

    /// <summary>What tests observe of the engine (kept leases, work in flight, watched keys, signals).</summary>
    internal EtcdLockProviderProbe Probe => new(_session, _release);

    /// <inheritdoc />
    public ValueTask<EtcdLockHandle> AcquireAsync(string key, EtcdLockOptions? options = null, CancellationToken cancellationToken = default)
    {
        AcquireRequest request = Prepare(key, options, Timeout.InfiniteTimeSpan, throwWhenBusy: true);

        // With ThrowWhenBusy the result is never null; ValueTask<T?> and ValueTask<T> are one runtime type for a class.
        return AcquireHandleAsync(request, cancellationToken)!;
    }

    /// <inheritdoc />
    public ValueTask<EtcdLockHandle?> TryAcquireAsync(string key, EtcdLockOptions? options = null, CancellationToken cancellationToken = default) =>
        AcquireHandleAsync(Prepare(key, options, TimeSpan.Zero, throwWhenBusy: false), cancellationToken);

    /// <summary>
    /// Runs the lock protocol, counted in flight (dispose waits for it). Not an async method: the protocol's own state
    /// machine ends the count and wraps the hold in its handle, so a call costs one state machine, not two.
    /// </summary>
    private ValueTask<EtcdLockHandle?> AcquireHandleAsync(AcquireRequest request, CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(!_session.Work.TryBegin(), this);
        return _acquire.AcquireAsync(request, cancellationToken, NewHandle.Instance); // ends the count
    }

    /// <summary>
    /// A generated wrapper's acquire (not nested): the attribute's values without an <see cref="EtcdLockOptions"/> per
    /// call, and the scope made by <paramref name="frame"/> inside the protocol's state machine, so the wrapper layer
    /// adds no state machine of its own. Throws synchronously what <see cref="Prepare(string, EtcdLockOptions?, TimeSpan, bool)"/> throws.
    /// </summary>
    /// <returns>The scope (<paramref name="frame"/>); without a handle when skipped as busy.</returns>
    internal ValueTask<EtcdLockScope?> EnterAsync(EtcdLockScope frame, string key, int? ttlSeconds, TimeSpan wait, TimeSpan? holdAtLeast, bool throwWhenBusy, CancellationToken cancellationToken)
    {
        AcquireRequest request = Prepare(key, ttlSeconds, wait, holdAtLeast, Timeout.InfiniteTimeSpan, throwWhenBusy);
        ObjectDisposedException.ThrowIf(!_session.Work.TryBegin(), this);
        return _acquire.AcquireAsync(request, cancellationToken, frame); // ends the count
    }

    /// <inheritdoc />
    public ValueTask<EtcdLockHandle> AcquireSemaphoreAsync(string key, int maxCount, EtcdLockOptions? options = null, CancellationToken cancellationToken = default) =>
        QueueAsync(key, QueueKind.Semaphore, maxCount, options, Timeout.InfiniteTimeSpan, throwWhenBusy: true, cancellationToken)!;

    /// <inheritdoc />
    public ValueTask<EtcdLockHandle?> TryAcquireSemaphoreAsync(string key, int maxCount, EtcdLockOptions? options = null, CancellationToken cancellationToken = default) =>
        QueueAsync(key, QueueKind.Semaphore, maxCount, options, TimeSpan.Zero, throwWhenBusy: false, cancellationToken);

    /// <inheritdoc />
    public ValueTask<EtcdLockHandle> AcquireReadLockAsync(string key, EtcdLockOptions? options = null, CancellationToken cancellationToken = default) =>
        QueueAsync(key, QueueKind.Read, 0, options, Timeout.InfiniteTimeSpan, throwWhenBusy: true, cancellationToken)!;

    /// <inheritdoc />
    public ValueTask<EtcdLockHandle?> TryAcquireReadLockAsync(string key, EtcdLockOptions? options = null, CancellationToken cancellationToken = default) =>
        QueueAsync(key, QueueKind.Read, 0, options, TimeSpan.Zero, throwWhenBusy: false, cancellationToken);

    /// <inheritdoc />
    public ValueTask<EtcdLockHandle> AcquireWriteLockAsync(string key, EtcdLockOptions? options = null, CancellationToken cancellationToken = default) =>
        QueueAsync(key, QueueKind.Write, 0, options, Timeout.InfiniteTimeSpan, throwWhenBusy: true, cancellationToken)!;

    /// <inheritdoc />
    public ValueTask<EtcdLockHandle?> TryAcquireWriteLockAsync(string key, EtcdLockOptions? options = null, CancellationToken cancellationToken = default) =>
        QueueAsync(key, QueueKind.Write, 0, options, TimeSpan.Zero, throwWhenBusy: false, cancellationToken);

    /// <inheritdoc />
    public ValueTask<EtcdLockHandle> CampaignAsync(string election, EtcdLockOptions? options = null, CancellationToken cancellationToken = default) =>
        QueueAsync(election, QueueKind.Leader, 0, options, Timeout.InfiniteTimeSpan, throwWhenBusy: true, cancellationToken)!;

    /// <inheritdoc />
    public async ValueTask<EtcdLeaderInfo?> GetLeaderAsync(string election, CancellationToken cancellationToken = default)
    {
        string fullKey = Prepare(election, null, TimeSpan.Zero, throwWhenBusy: false).FullKey;
        try
        {
            return (await _elections.ReadAsync(ElectionObserver.CandidatePrefix(fullKey), cancellationToken).ConfigureAwait(false)).Leader;
        }
        catch (Exception ex) when (ex is Grpc.Core.RpcException || (ex is OperationCanceledException && !cancellationToken.IsCancellationRequested))
        {
            throw _session.Calls.Unavailable(fullKey, "the leader read", ex);
        }
    }

    /// <inheritdoc />
    public IAsyncEnumerable<EtcdLeaderInfo?> ObserveLeaderAsync(string election, CancellationToken cancellationToken = default) =>
        _elections.ObserveAsync(Prepare(election, null, TimeSpan.Zero, throwWhenBusy: false).FullKey, cancellationToken);

    /// <summary>
    /// A queue primitive's acquire (semaphore, reader, writer, candidate), counted in flight; its hold is a
    /// <see cref="LockHold"/> on its own ticket key, wrapped in a handle as a lock's is.
    /// </summary>
    private async ValueTask<EtcdLockHandle?> QueueAsync(string key, QueueKind kind, int maxCount, EtcdLockOptions? options, TimeSpan defaultWait, bool throwWhenBusy, CancellationToken cancellationToken)
    {
        if (kind == QueueKind.Semaphore && maxCount < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(maxCount), maxCount, "A semaphore's MaxCount must be at least 1.");
        }

        if (options?.HoldAtLeast is { } minimum && minimum != TimeSpan.Zero)
        {
            throw new ArgumentException("EtcdLockOptions.HoldAtLeast applies to locks (AcquireAsync, [EtcdLock]) only; semaphores, reader-writer locks and elections release at once.", nameof(options));
        }

        AcquireRequest request = Prepare(key, options, defaultWait, throwWhenBusy);
        ByteString value = kind == QueueKind.Semaphore ? QueueRequest.SemaphoreValue(maxCount, _session.Calls.HolderId) : _session.Calls.HolderBytes;
        var queue = new QueueRequest(request, kind, maxCount, value);
        ObjectDisposedException.ThrowIf(!_session.Work.TryBegin(), this);
        LockHold? hold = await _queue.AcquireAsync(queue, cancellationToken).ConfigureAwait(false); // ends the count
        return hold is null ? null : new EtcdLockHandle(hold, isNested: false);
    }

    /// <summary>The façade's outcome: the hold in a new handle.</summary>
    private sealed class NewHandle : IAcquireOutcome<EtcdLockHandle>
    {
        public static readonly NewHandle Instance = new();

        public EtcdLockHandle Acquired(LockHold hold, CancellationToken callerToken) => new(hold, isNested: false);

        public EtcdLockHandle? Busy() => null;

        public void NotAcquired()
        {
        }
    }

    /// <summary>The key checked and encoded, the TTL and wait validated: what the protocol needs.</summary>
    internal AcquireRequest Prepare(string key, EtcdLockOptions? options, TimeSpan defaultWait, bool throwWhenBusy) =>
        Prepare(key, options?.TtlSeconds, options?.WaitTimeout, options?.HoldAtLeast, defaultWait, throwWhenBusy);

    private AcquireRequest Prepare(string key, int? ttlSeconds, TimeSpan? wait, TimeSpan? holdAtLeast, TimeSpan defaultWait, bool throwWhenBusy)
    {
        ObjectDisposedException.ThrowIf(_session.Work.IsDisposed, this);
        string fullKey = LockKeys.Build(_options.KeyPrefix, key, _options.MaxKeyBytes, out ByteString keyBytes);
        (int ttl, TimeSpan checkedWait) = LockKeys.Options(ttlSeconds, wait, _options.DefaultTtlSeconds, defaultWait);
        return new AcquireRequest(fullKey, keyBytes, ttl, checkedWait, throwWhenBusy) { HoldAtLeast = LockKeys.HoldAtLeast(holdAtLeast) };
    }

    /// <summary>
    /// The checks <c>AddEtcdLocks</c> runs at host start, for a provider built directly: all mistakes in one message,
    /// each naming the setting and its value; the exception type is the first mistake's (no endpoint:
    /// <see cref="InvalidOperationException"/>; a number out of range: <see cref="ArgumentOutOfRangeException"/>;
    /// anything else: <see cref="ArgumentException"/>).
    /// </summary>
    private static void Validate(EtcdLockProviderOptions options)
    {
        List<EtcdLockProviderOptionsValidator.Failure> failures = EtcdLockProviderOptionsValidator.Check(options, source: null);
        if (failures.Count == 0)
        {
            return;
        }

        string message = "Invalid etcd lock options: " + string.Join(" ", failures.Select(f => f.Message));
        throw failures[0].Kind switch
        {
            EtcdLockProviderOptionsValidator.FailureKind.Missing => new InvalidOperationException(message),
            EtcdLockProviderOptionsValidator.FailureKind.OutOfRange => new ArgumentOutOfRangeException(nameof(options), message),
            _ => new ArgumentException(message, nameof(options)),
        };
    }

    /// <summary>
    /// Stops the provider. Every hold still open is told first: its <see cref="EtcdLockHandle.LostToken"/> is
    /// cancelled (reason: the provider was disposed), then its lease is revoked so that other holders need not wait
    /// for the TTL. Acquires in progress end with <see cref="ObjectDisposedException"/> and leave nothing behind.
    /// </summary>
    /// <returns>A task that completes when the provider has stopped.</returns>
    public async ValueTask DisposeAsync()
    {
        // Bounded by one request timeout in all: during an outage the revokes cannot complete anyway, and the leases
        // expire by their TTL; with etcd answering they complete in milliseconds.
        long started = Stopwatch.GetTimestamp();

        // 1. No acquire starts and no hold is registered from now on; the holds open now are taken.
        if (!_session.TryBeginDispose(out ISessionHold[] open))
        {
            return;
        }

        // 2. Acquires in progress end; the spares are revoked (counted in flight before the drain is asked for below),
        //    and refills still in flight revoke what they grant.
        _session.Stop();

        // 3. Every open hold is told it is lost, then released: their revokes go out behind them (counted in flight).
        foreach (ISessionHold hold in open)
        {
            hold.MarkLost("the lock provider was disposed while the lock was held");
        }

        await Task.WhenAll(open.Select(h => h.ReleaseAsync().AsTask())).WaitAsync(Remaining()).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);

        // 4. Only now may the drain be asked for (see SessionWork.DrainAsync); then the session closes.
        await _session.DrainAsync().WaitAsync(Remaining()).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        await _session.CloseAsync().ConfigureAwait(false);

        TimeSpan Remaining()
        {
            TimeSpan left = _options.ConnectTimeout - Stopwatch.GetElapsedTime(started);
            return left > TimeSpan.Zero ? left : TimeSpan.Zero;
        }
    }

    /// <summary>Same as <see cref="DisposeAsync"/>, blocking.</summary>
    public void Dispose() => DisposeAsync().AsTask().GetAwaiter().GetResult();
}
