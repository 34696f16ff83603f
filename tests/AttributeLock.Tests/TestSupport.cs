using System.Diagnostics;
using System.Diagnostics.Metrics;
using AttributeLock.EtcdFixture;
using dotnet_etcd;
using Etcdserverpb;
using Google.Protobuf;

namespace AttributeLock.Tests;

/// <summary>Gives tests the shared real etcd, providers on it and a plain client to look behind the library's back.</summary>
public abstract class EtcdTestBase : IAsyncLifetime
{
    private readonly List<EtcdLockProvider> _providers = new();

    protected string Endpoints { get; private set; } = "";

    protected EtcdClient Client { get; private set; } = null!;

    public virtual async Task InitializeAsync()
    {
        Endpoints = await SharedEtcd.GetEndpointsAsync();
        Client = new EtcdClient(SharedEtcd.First(Endpoints));
    }

    public virtual async Task DisposeAsync()
    {
        foreach (var p in _providers)
        {
            await p.DisposeAsync();
        }

        Client.Dispose();
    }

    protected EtcdLockProvider NewProvider(Action<EtcdLockProviderOptions>? configure = null, Grpc.Core.Interceptors.Interceptor[]? interceptors = null)
    {
        var options = new EtcdLockProviderOptions { Endpoints = { Endpoints }, KeyPrefix = "/attributelock-tests" };
        configure?.Invoke(options);
        // Warnings and errors (a renewal that failed, a lost hold and why) go to the test's output, shown when it fails.
        var p = new EtcdLockProvider(options, new ConsoleLog(Microsoft.Extensions.Logging.LogLevel.Warning), null, interceptors);
        _providers.Add(p);
        return p;
    }

    protected static string UniqueKey(string name) => $"/{name}/{Guid.NewGuid():N}";

    protected async Task<Mvccpb.KeyValue?> GetKeyAsync(string fullKey)
    {
        RangeResponse r = await Client.GetAsync(fullKey);
        return r.Kvs.Count == 0 ? null : r.Kvs[0];
    }

    protected async Task<long> LeaseTtlAsync(long leaseId) =>
        (await Client.LeaseTimeToLiveAsync(new LeaseTimeToLiveRequest { ID = leaseId })).TTL;

    protected async Task<int> LeaseCountAsync() => (await Client.LeaseLeasesAsync(new LeaseLeasesRequest())).Leases.Count;

    protected async Task<HashSet<long>> LeaseIdsAsync() => (await Client.LeaseLeasesAsync(new LeaseLeasesRequest())).Leases.Select(l => l.ID).ToHashSet();

    /// <summary>
    /// The leases etcd has now that it did not have in <paramref name="before"/>, except the spares the given providers
    /// keep (granted ahead of time for their next acquire): what an acquire left behind. Empty when nothing leaked.
    /// </summary>
    protected async Task<List<long>> LeasesLeftAsync(HashSet<long> before, params EtcdLockProvider[] providers)
    {
        HashSet<long> now = await LeaseIdsAsync();
        now.ExceptWith(before);
        foreach (EtcdLockProvider p in providers)
        {
            now.ExceptWith(p.SpareLeaseIds);
        }

        return now.ToList();
    }

    /// <summary>Waits for a condition that must become true, failing with <paramref name="what"/> after <paramref name="limit"/>.</summary>
    protected static async Task Eventually(Func<Task<bool>> condition, TimeSpan limit, string what)
    {
        var sw = Stopwatch.StartNew();
        while (!await condition())
        {
            if (sw.Elapsed > limit)
            {
                Assert.Fail($"Not reached within {limit.TotalSeconds} s: {what}");
            }

            await Task.Delay(50);
        }
    }
}

/// <summary>Writes a provider's log to the console (the test's output), with the milliseconds since it was made.</summary>
internal sealed class ConsoleLog(Microsoft.Extensions.Logging.LogLevel minimum = Microsoft.Extensions.Logging.LogLevel.Trace) : Microsoft.Extensions.Logging.ILogger
{
    private readonly Stopwatch _sw = Stopwatch.StartNew();

    public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

    public bool IsEnabled(Microsoft.Extensions.Logging.LogLevel logLevel) => logLevel >= minimum;

    public void Log<TState>(Microsoft.Extensions.Logging.LogLevel logLevel, Microsoft.Extensions.Logging.EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        if (IsEnabled(logLevel))
        {
            Console.WriteLine($"[{_sw.ElapsedMilliseconds,6} ms] {logLevel}: {formatter(state, exception)}");
        }
    }
}

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

/// <summary>Starts the test worker (a separate OS process).</summary>
public static class Worker
{
    public static Process Start(params string[] args)
    {
        string dll = Path.Combine(AppContext.BaseDirectory, "AttributeLock.TestWorker.dll");
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add(dll);
        foreach (string a in args)
        {
            psi.ArgumentList.Add(a);
        }

        return Process.Start(psi)!;
    }
}
