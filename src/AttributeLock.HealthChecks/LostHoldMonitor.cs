using System.Diagnostics.Metrics;
namespace AttributeLock.HealthChecks;

/// <summary>
/// Remembers when holds were lost, from the library's counter <see cref="EtcdLockTelemetry.LostHolds"/> on the
/// <see cref="Meter"/> <see cref="EtcdLockTelemetry.Name"/>, heard through a <see cref="MeterListener"/>. It listens only
/// to the meters of one <see cref="IMeterFactory"/> (the container's, which the provider registered by
/// <c>AddEtcdLocks</c> uses), or, without a factory, to the meters that providers created on their own.
/// </summary>
/// <remarks>
/// A singleton, started with the host (a hosted service resolves it) or, without a host, by the first
/// health check; holds lost before it started are not seen.
/// </remarks>
internal sealed class LostHoldMonitor : IDisposable
{
    private readonly MeterListener _listener = new();
    private readonly object? _scope;
    private readonly TimeProvider _time;
    private readonly object _gate = new();
    // Times (TimeProvider timestamps) of the holds lost recently, oldest first; trimmed to the longest window asked for.
    private readonly Queue<DateTimeOffset> _recent = new();
    private TimeSpan _keep = TimeSpan.FromMinutes(5);
    private long _total;

    public LostHoldMonitor(IMeterFactory? meterFactory, TimeProvider? time = null)
    {
        _scope = meterFactory;
        _time = time ?? TimeProvider.System;
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument.Meter.Name == EtcdLockTelemetry.Name && instrument.Name == EtcdLockTelemetry.LostHolds
                && ReferenceEquals(instrument.Meter.Scope, _scope))
            {
                listener.EnableMeasurementEvents(instrument);
            }
        };
        _listener.SetMeasurementEventCallback<long>((_, value, _, _) => OnLost(value));
        _listener.Start();
    }

    /// <summary>Holds lost since the monitor started.</summary>
    public long Total => Interlocked.Read(ref _total);

    /// <summary>The holds lost within <paramref name="window"/> before now, and when the last of them was lost.</summary>
    public (int Count, DateTimeOffset? Last) LostWithin(TimeSpan window)
    {
        DateTimeOffset now = _time.GetUtcNow();
        lock (_gate)
        {
            if (window > _keep)
            {
                _keep = window;
            }

            Trim(now);
            int count = _recent.Count(t => now - t <= window);
            return (count, _recent.Count == 0 ? null : _recent.Last());
        }
    }

    private void OnLost(long value)
    {
        DateTimeOffset now = _time.GetUtcNow();
        Interlocked.Add(ref _total, value);
        lock (_gate)
        {
            for (long i = 0; i < value; i++)
            {
                _recent.Enqueue(now);
            }

            Trim(now);
        }
    }

    private void Trim(DateTimeOffset now)
    {
        // Bounded: entries older than the longest window are dropped, and at most 10,000 are kept.
        while (_recent.Count > 0 && (now - _recent.Peek() > _keep || _recent.Count > 10_000))
        {
            _recent.Dequeue();
        }
    }

    public void Dispose() => _listener.Dispose();
}
