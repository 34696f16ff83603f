using System.Diagnostics.Metrics;
using AttributeLock.Engine.Lock;
using AttributeLock.Engine.Session;

namespace AttributeLock;

/// <summary>
/// What tests observe of a provider's engine, in one place (<c>provider.Probe</c>): the leases it keeps, its work in
/// flight, its watched keys, its stop token, its meter, and how many releases signalled a hold's end. Each read is a
/// fresh look; nothing in the engine depends on it.
/// </summary>
internal sealed class EtcdLockProviderProbe
{
    private readonly EtcdSession _session;
    private readonly LockRelease _release;

    internal EtcdLockProviderProbe(EtcdSession session, LockRelease release)
    {
        _session = session;
        _release = release;
    }

    /// <summary>The provider's <see cref="Meter"/> (what <see cref="EtcdLockTelemetry"/> names).</summary>
    public Meter Meter => _session.Calls.Metrics.Meter;

    /// <summary>Every lease the provider keeps now: holds', queued callers' pre-grants and spares.</summary>
    public int KeptLeaseCount => _session.Keeper.Count;

    /// <summary>The kept leases that are not spares (held, being acquired, or pre-granted for a queued caller).</summary>
    public int KeptLeaseCountExcludingSpares => _session.Keeper.Snapshot().NonSpares;

    /// <summary>The spare leases kept now (granted ahead, not handed to an acquire yet).</summary>
    public int SpareLeaseCount => _session.Keeper.Snapshot().Spares;

    /// <summary>The ids of the spare leases kept now.</summary>
    public long[] SpareLeaseIds => _session.Keeper.Snapshot().SpareIds;

    /// <summary>Acquires, releases and background revokes or refills still running (dispose waits for them).</summary>
    public int InFlightCount => _session.Work.InFlightCount;

    /// <summary>Revokes sent and not ended yet, plus those waiting for a slot (<see cref="EngineSettings.MaxRevokesInFlight"/>).</summary>
    public int RevokesInFlight => _session.Revokes.Count;

    /// <summary>Held keys on the session's watch stream now.</summary>
    public int WatchedKeyCount => _session.Watcher.Count;

    /// <summary>Cancelled when dispose begins.</summary>
    public CancellationToken StopToken => _session.Calls.StopToken;

    /// <summary>
    /// Releases that handed a hold's end signal to a thread of its own. A release signals only when someone could be
    /// listening (a nested handle asked for the end token, or a nested call waits); a quiet release starts no thread.
    /// </summary>
    public int ReleaseEndSignals => _release.EndSignals;
}
