using System.Diagnostics;
using System.Diagnostics.Metrics;
using AttributeLock.Engine;
using AttributeLock.Engine.Session;
using Etcdserverpb;
using Google.Protobuf;
using Grpc.Core;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace AttributeLock;

/// <summary>
/// The <see cref="IEtcdLockProvider"/> over etcd's v3 API (through dotnet-etcd). One instance per process and etcd
/// cluster is enough: it shares one connection among all locks.
/// </summary>
/// <remarks>
/// The protocol of one acquire is in <c>Engine/AcquireProtocol.cs</c>; how a hold is kept and when it counts as lost
/// in <c>Engine/KeptLease.cs</c>, <c>Engine/KeyWatcher.cs</c> and <c>Engine/LockHold.cs</c>. Disposing the provider
/// tells every open hold it is lost (<see cref="EtcdLockHandle.LostToken"/>), then revokes their leases and the spare
/// leases it keeps for its next acquires (<c>Engine/SpareLeases.cs</c>).
/// </remarks>
public sealed class EtcdLockProvider : IEtcdLockProvider, IAsyncDisposable, IDisposable
{
    private readonly EtcdLockProviderOptions _options;
    private readonly EtcdSession _session;
    private readonly AcquireProtocol _protocol;
    // Who holds a key through a local gate, for timeout messages: built once, not per acquire.
    private readonly string _localHolder;

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
        Settings = tune is null ? settings : tune(settings);
        _session = new EtcdSession(options, Settings, logger ?? NullLogger.Instance, meterFactory, interceptors);
        _localHolder = HolderId + " (a caller in this process)";
        _protocol = new AcquireProtocol(this);
    }

    /// <summary>
    /// Who this provider is, as written into the value of every key it holds: host name, process id and a
    /// per-provider id.
    /// </summary>
    public string HolderId => _session.Calls.HolderId;

    internal EngineSettings Settings { get; }

    internal Meter Meter => Metrics.Meter;

    /// <summary>Every lease the provider keeps now: holds', queued callers' pre-grants and spares.</summary>
    internal int KeptLeaseCount => Keeper.Count;

    /// <summary>The kept leases that are not spares (held, being acquired, or pre-granted for a queued caller).</summary>
    internal int KeptLeaseCountExcludingSpares => Keeper.NonSpareCount;

    /// <summary>The spare leases kept now (granted ahead, not handed to an acquire yet).</summary>
    internal int SpareLeaseCount => Keeper.SpareCount;

    /// <summary>The ids of the spare leases kept now.</summary>
    internal long[] SpareLeaseIds => Keeper.SpareIds;

    internal ILeaseGrants Grants => _session.Grants;

    /// <summary>Acquires, releases and background revokes or refills still running (dispose waits for them).</summary>
    internal int InFlightCount => _session.Work.InFlightCount;

    internal int WatchedKeyCount => _session.Watcher.Count;

    internal IEtcdCalls Calls => _session.Calls;
    internal ILogger Logger => _session.Calls.Logger;
    internal KV.KVClient Kv => _session.Calls.Kv;
    internal Lease.LeaseClient Leases => _session.Calls.Leases;
    internal Watch.WatchClient Watches => _session.Calls.Watches;
    internal LeaseKeeper Keeper => _session.Keeper;
    internal LocalGates Gates => _session.Gates;
    internal LockMetrics Metrics => _session.Calls.Metrics;
    internal ByteString HolderBytes => _session.Calls.HolderBytes;

    /// <summary>Whether a full key is a lock key this provider holds now (guarded writes may not write it).</summary>
    internal bool IsLockKeyHere(string fullKey) => Gates.HolderOf(fullKey) is not null;
    internal CancellationToken StopToken => _session.Calls.StopToken;

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

    private async ValueTask<EtcdLockHandle?> AcquireHandleAsync(AcquireRequest request, CancellationToken cancellationToken)
    {
        LockHold? hold = await AcquireHoldAsync(request, cancellationToken).ConfigureAwait(false);
        return hold is null ? null : new EtcdLockHandle(hold, isNested: false);
    }

    internal async ValueTask<LockHold?> AcquireHoldAsync(AcquireRequest request, CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(!_session.Work.TryBegin(), this);
        try
        {
            await WaitWhileRenewalsLagAsync(request, cancellationToken).ConfigureAwait(false);
            return await _protocol.AcquireAsync(request, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _session.Work.End();
        }
    }

    /// <summary>
    /// When <see cref="RenewalLag"/> reaches this (one second), new acquires wait for the renewals to catch up, at most
    /// <see cref="EtcdLockProviderOptions.ConnectTimeout"/>, then are refused with <see cref="EtcdLockUnavailableException"/>;
    /// the health check reports the provider degraded.
    /// </summary>
    public static TimeSpan RenewalLagLimit { get; } = TimeSpan.FromSeconds(1);

    /// <summary>
    /// Back-pressure: while the renewals of the leases this provider keeps are more than <see cref="RenewalLagLimit"/>
    /// behind (more holds than this process or etcd can renew, or etcd answering slowly), a new acquire waits for them
    /// to catch up, at most one connect timeout, then is refused with the reason. Taking more holds then would only
    /// push every hold already taken past its deadline at once.
    /// </summary>
    private async ValueTask WaitWhileRenewalsLagAsync(AcquireRequest request, CancellationToken cancellationToken)
    {
        TimeSpan lag = Keeper.RenewalLag();
        if (lag < RenewalLagLimit)
        {
            return;
        }

        long started = Stopwatch.GetTimestamp();
        while (Stopwatch.GetElapsedTime(started) < _options.ConnectTimeout)
        {
            await Task.Delay(50, cancellationToken).ConfigureAwait(false);
            lag = Keeper.RenewalLag();
            if (lag < RenewalLagLimit)
            {
                return;
            }
        }

        throw new EtcdLockUnavailableException(request.FullKey,
            $"Lock '{request.FullKey}' was not tried: the renewals of the {Keeper.Count} leases this provider keeps are {lag.TotalMilliseconds:0} ms behind " +
            $"(more than {RenewalLagLimit.TotalMilliseconds:0} ms for {_options.ConnectTimeout.TotalSeconds:0.#} s), so new acquires are refused until they catch up rather than push the holds already taken past their deadlines. " +
            "This process holds more locks than it or etcd can renew, or etcd answers slowly; see the attributelock.renewal.lag metric.",
            null, isTransient: true);
    }

    /// <summary>
    /// How far the renewals of the leases this provider keeps are behind now: the age of the oldest renewal etcd has
    /// not answered yet, or how late the process runs its renewal schedule, whichever is more. A few milliseconds when
    /// etcd and the machine keep up; see <see cref="RenewalLagLimit"/>. Published as the
    /// <see cref="EtcdLockTelemetry.RenewalLag"/> gauge.
    /// </summary>
    public TimeSpan RenewalLag => Keeper.RenewalLag();

    internal AcquireRequest Prepare(string key, EtcdLockOptions? options, TimeSpan defaultWait, bool throwWhenBusy)
    {
        ObjectDisposedException.ThrowIf(_session.Work.IsDisposed, this);
        string fullKey = LockKeys.Build(_options.KeyPrefix, key, _options.MaxKeyBytes, out ByteString keyBytes);
        (int ttl, TimeSpan wait) = LockKeys.Options(options, _options.DefaultTtlSeconds, defaultWait);
        return new AcquireRequest(fullKey, keyBytes, ttl, wait, throwWhenBusy);
    }

    /// <summary>
    /// Step 5 of the protocol: the key is ours in etcd; it becomes a hold only if the lease is still kept and the
    /// provider is not disposed (checked under the same lock that dispose takes, so no hold escapes dispose's sweep).
    /// </summary>
    /// <returns>The hold, or null when the lease was lost meanwhile (the caller revokes it and starts over).</returns>
    internal LockHold? TryRegisterHold(AcquireRequest request, KeptLease lease, long fencingToken, LocalGates.Gate gate)
    {
        var hold = new LockHold(this, request.FullKey, request.KeyBytes, lease, fencingToken, gate);
        return _session.Work.TryRegister(hold, lease) ? hold : null;
    }

    /// <summary>Who holds a key through a local gate, for timeout messages: built once, not per acquire.</summary>
    internal string LocalHolder => _localHolder;

    /// <summary>A renewal of a hold's lease is being sent: its key is read (batched) and, from the first, watched.</summary>
    internal void OnRenewalDue(LockHold hold)
    {
        if (hold.IsLive)
        {
            _session.Watcher.OnRenewalDue(hold);
        }
    }

    internal string? HolderOfLocalGate(string fullKey) => Gates.HolderOf(fullKey);

    /// <summary>Releases a hold: stops keeping and watching it, revokes its lease, passes its gate on. Never throws.</summary>
    internal async ValueTask ReleaseAsync(LockHold hold)
    {
        // Counted in flight before the hold is marked released: a dispose that no longer sees the hold among the open
        // ones still waits for this revoke before it closes the connection.
        _session.Work.Begin();
        try
        {
            await ReleaseCoreAsync(hold).ConfigureAwait(false);
        }
        finally
        {
            _session.Work.End();
        }
    }

    private async ValueTask ReleaseCoreAsync(LockHold hold)
    {
        if (!hold.MarkReleased())
        {
            return;
        }

        _session.Work.Unregister(hold);

        hold.Lease.Retire();
        _session.Watcher.Remove(hold);
        try
        {
            if (hold.IsLost)
            {
                // Already lost (its deadline passed, etcd said the lease is gone, or dispose): the caller does not wait
                // for etcd, which is likely what failed. The revoke still goes out, behind the caller (counted in
                // flight, retried until the TTL has passed), so that others need not wait for the TTL.
                Grants.RevokeInBackground(hold.Key, hold.LeaseId, (int)hold.TtlSeconds);
            }
            else
            {
                // A failure is retried behind the caller (counted in flight, so dispose waits for it) for up to TTL + 1 s.
                await Grants.RevokeAsync(hold.Key, hold.LeaseId, (int)hold.TtlSeconds).ConfigureAwait(false);
            }
        }
        finally
        {
            if (hold.OverwrittenInPlace)
            {
                // Behind the caller, like the revoke of a lost hold (counted in flight: dispose waits for it).
                RunInBackground(() => DeleteOverwrittenKeyAsync(hold));
            }

            Gates.Exit(hold.Key, hold.Gate);
            double heldMs = Stopwatch.GetElapsedTime(hold.AcquiredTimestamp).TotalMilliseconds;
            Metrics.HoldDuration.Record(heldMs);
            Log.Released(Logger, hold.Key, hold.LeaseId, heldMs);
        }
    }

    /// <summary>
    /// The hold's key was overwritten in place by another writer (it kept our create revision but may have left our
    /// lease, so the revoke did not delete it and nothing ever would): delete it, but only while it is still our
    /// incarnation of the key (create revision = fencing token). A key re-created by another holder has another create
    /// revision and is never touched. Never throws.
    /// </summary>
    private async Task DeleteOverwrittenKeyAsync(LockHold hold)
    {
        var txn = new TxnRequest();
        txn.Compare.Add(GuardedWrites.OwnershipComparisons(hold.KeyBytes, hold.FencingToken, hold.LeaseId)[0]);
        txn.Success.Add(new RequestOp { RequestDeleteRange = new DeleteRangeRequest { Key = hold.KeyBytes } });
        try
        {
            TxnResponse answer = await Kv.TxnAsync(txn, CallOptions()).ConfigureAwait(false);
            Log.OverwrittenKeyDeleted(Logger, hold.Key, hold.FencingToken, answer.Succeeded);
        }
        catch (Exception ex)
        {
            Log.RevokeFailed(Logger, hold.Key, hold.LeaseId, ex.Message);
        }
    }

    /// <summary>A handle was collected without being disposed: stop renewing, revoke, free the local gate.</summary>
    internal void OnAbandoned(LockHold hold)
    {
        if (hold.State == HoldState.Released)
        {
            return;
        }

        // Off the finalizer thread: logging and the revoke may block or take time.
        ThreadPool.UnsafeQueueUserWorkItem(
            static h =>
            {
                Log.Abandoned(h.Provider.Logger, h.Key, h.LeaseId, h.FencingToken);
                // Whoever still works under this hold (a kept LostToken) must learn it ends before the key is freed.
                h.MarkLost("the handle was garbage-collected without being disposed; the lock is being released");
                _ = h.Provider.ReleaseAsync(h);
            },
            hold,
            preferLocal: false);
    }

    internal void EtcdAnswered() => _session.Work.EtcdAnswered();

    /// <summary>Runs on the thread pool (see <see cref="LockHold"/>), never on the keeper's timers or readers.</summary>
    internal void OnHoldLost(LockHold hold, string reason)
    {
        Log.Lost(Logger, hold.Key, hold.LeaseId, hold.FencingToken, reason);
        Metrics.LostHolds.Add(1);
    }

    internal void OnLostCallbackFailed(LockHold hold, string what, Exception ex) => Log.LostCallbackFailed(Logger, ex, hold.Key, what);

    internal CallOptions CallOptions() => _session.Calls.CallOptions();

    internal CallOptions CallOptions(CancellationToken cancellationToken) => _session.Calls.CallOptions(cancellationToken);

    internal CallOptions CallOptions(CancellationToken cancellationToken, DateTime? deadline) => _session.Calls.CallOptions(cancellationToken, deadline);

    internal DateTime FirstAttemptDeadline() => _session.Calls.FirstAttemptDeadline();

    internal void RunInBackground(Func<Task> work) => _session.Work.RunInBackground(work);

    internal EtcdLockUnavailableException Unavailable(string fullKey, string what, Exception ex) => _session.Calls.Unavailable(fullKey, what, ex);

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
        if (!_session.TryBeginDispose(out ISessionHold[] open))
        {
            return;
        }

        // Before the in-flight count is read below: the spares' revokes are counted, and refills still in flight
        // revoke what they grant from now on.
        _session.Stop();
        foreach (ISessionHold hold in open)
        {
            hold.MarkLost("the lock provider was disposed while the lock was held");
        }

        // The holds are lost now: their releases revoke in the background (counted in flight, waited for below).
        await Task.WhenAll(open.Select(h => h.ReleaseAsync().AsTask())).WaitAsync(Remaining()).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        // Only now may the drain be asked for (see SessionWork.DrainAsync).
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
