using System.Diagnostics.Metrics;
using Grpc.Core.Interceptors;
using Microsoft.Extensions.Logging;

namespace AttributeLock.Engine.Session;

/// <summary>
/// What every primitive of a provider shares: one connection to etcd (<see cref="IEtcdCalls"/>), its leases (granted,
/// adopted, spared and revoked by <see cref="ILeaseGrants"/>; renewed and their deadlines watched by the
/// <see cref="LeaseKeeper"/>), the check that held keys stay ours (<see cref="KeyWatcher"/>), one queue per key among
/// the callers of this process (<see cref="LocalGates"/>), and the work dispose waits for (<see cref="ISessionWork"/>).
/// A protocol (the lock's, and those to come) takes the parts it needs, never the session itself.
/// </summary>
/// <remarks>
/// Dispose runs in this order (the provider drives it): <see cref="TryBeginDispose"/> (no new work, the open holds
/// taken), <see cref="Stop"/> (acquires in progress end, spares are revoked), the holds are told and released,
/// <see cref="DrainAsync"/>, <see cref="CloseAsync"/>.
/// </remarks>
internal sealed class EtcdSession
{
    private readonly EtcdConnection _connection;
    private readonly SessionWork _work;

    public EtcdSession(EtcdLockProviderOptions options, EngineSettings settings, ILogger logger, IMeterFactory? meterFactory, Interceptor[]? interceptors)
    {
        Settings = settings;
        _connection = new EtcdConnection(options, settings, logger, meterFactory, interceptors);
        _work = new SessionWork(logger, settings.OwnerName);
        Keeper = new LeaseKeeper(_connection.Leases, logger, settings.RequestTimeout, settings.LargeSessionRenewals);
        Watcher = new KeyWatcher(_connection.Watches, _connection.Kv, logger, _connection.CallOptions, settings.RequestTimeout);
        _connection.Metrics.ObserveKeeper(() => Keeper.Count, Keeper.RenewalLag, Keeper.RenewalDemand, Keeper.RenewalCapacity);
        Revokes = new InFlightLimit(settings.MaxRevokesInFlight);
        Grants = new LeaseGrants(_connection, Keeper, _work, settings, Revokes);
    }

    public EngineSettings Settings { get; }

    public IEtcdCalls Calls => _connection;

    public ISessionWork Work => _work;

    public ILeaseGrants Grants { get; }

    /// <summary>The revokes in flight (<see cref="EngineSettings.MaxRevokesInFlight"/>), taken and freed by <see cref="Grants"/>.</summary>
    public InFlightLimit Revokes { get; }

    public LeaseKeeper Keeper { get; }

    public KeyWatcher Watcher { get; }

    public LocalGates Gates { get; } = new();

    /// <summary>Marks the session disposed (once) and takes the holds open now: none can be registered after this.</summary>
    /// <returns><c>false</c> when dispose began already.</returns>
    public bool TryBeginDispose(out ISessionHold[] open) => _work.TryBeginDispose(out open);

    /// <summary>
    /// Cancels <see cref="IEtcdCalls.StopToken"/> (acquires in progress end with <see cref="ObjectDisposedException"/>,
    /// refills stop), then revokes the spare leases: before the drain is asked for, so that it waits for those revokes.
    /// </summary>
    public void Stop()
    {
        _connection.Stop();
        Grants.DisposeSpares();
    }

    /// <summary>Completes when no work is in flight (see <see cref="SessionWork.DrainAsync"/>).</summary>
    public Task DrainAsync() => _work.DrainAsync();

    /// <summary>Stops watching and renewing, and closes the connection: the last step of dispose.</summary>
    public async ValueTask CloseAsync()
    {
        await Watcher.DisposeAsync().ConfigureAwait(false);
        await Keeper.DisposeAsync().ConfigureAwait(false);
        _connection.Dispose();
    }
}
