using System.Diagnostics;
using dotnet_etcd;
using Etcdserverpb;
using Xunit;

namespace AttributeLock.EtcdFixture;

/// <summary>
/// The base of tests on a real etcd: the shared server (<see cref="SharedEtcd"/>; another through
/// <see cref="EndpointsAsync"/>), a plain client to look and act behind the library's back, and disposal of what a test
/// made. Each test project derives its own base from it with the providers it needs (those may use the product's
/// internals, visible to that project only).
/// </summary>
public abstract class EtcdTestBase : IAsyncLifetime
{
    private readonly List<IAsyncDisposable> _disposables = new();

    protected string Endpoints { get; private set; } = "";

    protected EtcdClient Client { get; private set; } = null!;

    public virtual async Task InitializeAsync()
    {
        Endpoints = await EndpointsAsync();
        Client = new EtcdClient(SharedEtcd.First(Endpoints));
    }

    /// <summary>The etcd this test runs against: the shared one, unless a derived class has one of its own.</summary>
    protected virtual Task<string> EndpointsAsync() => SharedEtcd.GetEndpointsAsync();

    /// <summary>Disposes what <see cref="Track"/> was given, the last first, then the client.</summary>
    public virtual async Task DisposeAsync()
    {
        for (int i = _disposables.Count - 1; i >= 0; i--)
        {
            await _disposables[i].DisposeAsync();
        }

        Client.Dispose();
    }

    /// <summary>Disposes <paramref name="disposable"/> at the end of the test.</summary>
    protected T Track<T>(T disposable) where T : IAsyncDisposable
    {
        _disposables.Add(disposable);
        return disposable;
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
