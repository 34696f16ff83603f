using System.Diagnostics.Metrics;
using dotnet_etcd;
using Etcdserverpb;
using Google.Protobuf;

namespace AttributeLock.Tests;

/// <summary>Counts the measurements of one provider's Meter.</summary>
public sealed class MeterCounter : IDisposable
{
    private readonly MeterListener _listener = new();
    private long _total;
    private readonly Dictionary<string, long> _byOutcome = new();

    public MeterCounter(Meter meter, string instrument)
    {
        _listener.InstrumentPublished = (i, l) =>
        {
            if (ReferenceEquals(i.Meter, meter) && i.Name == instrument)
            {
                l.EnableMeasurementEvents(i);
            }
        };
        _listener.SetMeasurementEventCallback<long>((i, value, tags, _) =>
        {
            lock (_byOutcome)
            {
                _total += value;
                foreach (var t in tags)
                {
                    if (t.Key == "outcome")
                    {
                        string k = t.Value?.ToString() ?? "";
                        _byOutcome[k] = _byOutcome.GetValueOrDefault(k) + value;
                    }
                }
            }
        });
        _listener.Start();
    }

    public long Total { get { lock (_byOutcome) { return _total; } } }

    public long Outcome(string outcome) { lock (_byOutcome) { return _byOutcome.GetValueOrDefault(outcome); } }

    public void Dispose() => _listener.Dispose();
}
