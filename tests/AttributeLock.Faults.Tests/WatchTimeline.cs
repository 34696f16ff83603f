using System.Diagnostics;
using System.Globalization;
using System.Text;

namespace AttributeLock.Faults.Tests;

/// <summary>
/// For diagnosis only (nothing is asserted on it): samples etcd's own watch gauges every 50 ms — watch streams, watchers,
/// and "slow" (unsynced, i.e. behind) watchers — and keeps each change with its time on the test's clock, so a test's
/// output shows when the provider's watch stream was re-opened and caught up relative to the compaction and the deletes.
/// </summary>
public sealed class WatchTimeline : IAsyncDisposable
{
    private static readonly HttpClient s_http = new() { Timeout = TimeSpan.FromSeconds(2) };
    private readonly List<string> _changes = new();
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _loop;

    private WatchTimeline(string endpoint, Stopwatch clock)
    {
        _loop = Task.Run(() => SampleAsync(endpoint, clock, _stop.Token));
    }

    /// <summary>Starts sampling the metrics of the etcd at <paramref name="endpoint"/>.</summary>
    public static WatchTimeline Start(string endpoint, Stopwatch clock) => new(endpoint, clock);

    private async Task SampleAsync(string endpoint, Stopwatch clock, CancellationToken stop)
    {
        string last = "";
        while (!stop.IsCancellationRequested)
        {
            string now;
            try
            {
                string text = await s_http.GetStringAsync($"{endpoint}/metrics", stop).ConfigureAwait(false);
                now = $"streams {Gauge(text, "etcd_debugging_mvcc_watch_stream_total")}, watchers {Gauge(text, "etcd_debugging_mvcc_watcher_total")}, " +
                      $"behind {Gauge(text, "etcd_debugging_mvcc_slow_watcher_total")}";
            }
            catch (Exception) when (!stop.IsCancellationRequested)
            {
                now = "etcd not answering";
            }
            catch (Exception)
            {
                return;
            }

            if (now != last)
            {
                lock (_changes)
                {
                    _changes.Add($"{clock.ElapsedMilliseconds} ms: {now}");
                }

                last = now;
            }

            try
            {
                await Task.Delay(50, stop).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    private static string Gauge(string metrics, string name)
    {
        foreach (string line in metrics.Split('\n'))
        {
            if (line.StartsWith(name + " ", StringComparison.Ordinal))
            {
                return double.Parse(line[(name.Length + 1)..], CultureInfo.InvariantCulture).ToString(CultureInfo.InvariantCulture);
            }
        }

        return "?";
    }

    /// <summary>Stops sampling and returns the changes seen, one per line.</summary>
    public async Task<string> StopAsync()
    {
        await DisposeAsync().ConfigureAwait(false);
        var text = new StringBuilder("etcd's watch gauges (sampled every 50 ms):");
        lock (_changes)
        {
            foreach (string change in _changes)
            {
                text.Append("\n  ").Append(change);
            }
        }

        return text.ToString();
    }

    public async ValueTask DisposeAsync()
    {
        if (!_stop.IsCancellationRequested)
        {
            _stop.Cancel();
        }

        await _loop.ConfigureAwait(false);
    }
}
