using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace AttributeLock;

/// <summary>Names of the library's diagnostics: one <see cref="ActivitySource"/> and one <see cref="Meter"/>.</summary>
public static class EtcdLockTelemetry
{
    /// <summary>The name of the <see cref="ActivitySource"/> and of the <see cref="Meter"/>: <c>AttributeLock</c>.</summary>
    public const string Name = "AttributeLock";

    /// <summary>Histogram, ms: time from the start of an acquire to the hold (or to giving up).</summary>
    public const string AcquireDuration = "attributelock.acquire.duration";

    /// <summary>Histogram, ms: the part of an acquire spent waiting for another holder.</summary>
    public const string WaitDuration = "attributelock.wait.duration";

    /// <summary>Histogram, ms: time from acquire to release.</summary>
    public const string HoldDuration = "attributelock.hold.duration";

    /// <summary>Counter: holds lost (lease deadline passed or lease gone).</summary>
    public const string LostHolds = "attributelock.holds.lost";

    /// <summary>Counter: lock transactions sent to etcd, tagged <c>outcome</c> = acquired, busy or recovered.</summary>
    public const string Transactions = "attributelock.transactions";

    /// <summary>Counter: acquires that gave up because the lock stayed busy.</summary>
    public const string Timeouts = "attributelock.acquire.timeouts";

    /// <summary>Gauge: leases the provider keeps alive now (holds, queued callers' pre-grants and spares).</summary>
    public const string KeptLeases = "attributelock.leases.kept";

    /// <summary>
    /// Gauge, ms: how far the provider's renewals are behind (the oldest unanswered renewal, or how late the renewal
    /// schedule runs). Above one second new acquires wait, then are refused, so that the holds already taken are kept.
    /// </summary>
    public const string RenewalLag = "attributelock.renewal.lag";

    /// <summary>
    /// Gauge, renewals per second: what the provider's kept leases need (each renewed every third of its TTL, at least
    /// every 0.5 s). See <see cref="RenewalCapacity"/>.
    /// </summary>
    public const string RenewalDemand = "attributelock.renewal.demand";

    /// <summary>
    /// Gauge, renewals per second: what the provider's keep-alive stream was measured to carry (reported once measured).
    /// New acquires wait, then are refused, while one more lease would take <see cref="RenewalDemand"/> past 80% of it.
    /// </summary>
    public const string RenewalCapacity = "attributelock.renewal.capacity";

    internal static readonly ActivitySource ActivitySource = new(Name, typeof(EtcdLockTelemetry).Assembly.GetName().Version?.ToString());
}

internal sealed class LockMetrics : IDisposable
{
    private readonly bool _ownsMeter;

    public LockMetrics(IMeterFactory? factory)
    {
        if (factory is not null)
        {
            Meter = factory.Create(EtcdLockTelemetry.Name);
        }
        else
        {
            Meter = new Meter(EtcdLockTelemetry.Name);
            _ownsMeter = true;
        }

        AcquireDuration = Meter.CreateHistogram<double>(EtcdLockTelemetry.AcquireDuration, "ms", "Time to acquire a lock.");
        WaitDuration = Meter.CreateHistogram<double>(EtcdLockTelemetry.WaitDuration, "ms", "Time spent waiting for another holder.");
        HoldDuration = Meter.CreateHistogram<double>(EtcdLockTelemetry.HoldDuration, "ms", "Time a lock was held.");
        LostHolds = Meter.CreateCounter<long>(EtcdLockTelemetry.LostHolds, description: "Holds lost before release.");
        Transactions = Meter.CreateCounter<long>(EtcdLockTelemetry.Transactions, description: "Lock transactions sent to etcd.");
        Timeouts = Meter.CreateCounter<long>(EtcdLockTelemetry.Timeouts, description: "Acquires that gave up on a busy lock.");
    }

    public Meter Meter { get; }
    public Histogram<double> AcquireDuration { get; }
    public Histogram<double> WaitDuration { get; }
    public Histogram<double> HoldDuration { get; }
    public Counter<long> LostHolds { get; }
    public Counter<long> Transactions { get; }
    public Counter<long> Timeouts { get; }

    private static readonly KeyValuePair<string, object?>[] s_acquired = [new("outcome", "acquired")];
    private static readonly KeyValuePair<string, object?>[] s_busy = [new("outcome", "busy")];
    private static readonly KeyValuePair<string, object?>[] s_recovered = [new("outcome", "recovered")];

    /// <summary>Publishes the gauges of a provider's lease keeper.</summary>
    public void ObserveKeeper(Func<int> keptLeases, Func<TimeSpan> renewalLag, Func<double> renewalDemand, Func<double?> renewalCapacity)
    {
        Meter.CreateObservableGauge(EtcdLockTelemetry.KeptLeases, keptLeases, description: "Leases kept alive now.");
        Meter.CreateObservableGauge(EtcdLockTelemetry.RenewalLag, () => renewalLag().TotalMilliseconds, "ms", "How far lease renewals are behind.");
        Meter.CreateObservableGauge(EtcdLockTelemetry.RenewalDemand, renewalDemand, "{renewal}/s", "Renewals per second the kept leases need.");
        Meter.CreateObservableGauge(EtcdLockTelemetry.RenewalCapacity,
            () => renewalCapacity() is double capacity ? [new Measurement<double>(capacity)] : Array.Empty<Measurement<double>>(),
            "{renewal}/s", "Renewals per second the keep-alive stream was measured to carry.");
    }

    public void CountTransaction(string outcome) => Transactions.Add(1, outcome switch
    {
        "acquired" => s_acquired,
        "busy" => s_busy,
        _ => s_recovered,
    });

    public void Dispose()
    {
        if (_ownsMeter)
        {
            Meter.Dispose();
        }
    }
}
