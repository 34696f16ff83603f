using System.Diagnostics;
using AttributeLock.EtcdFixture;
using dotnet_etcd;
using Etcdserverpb;

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
