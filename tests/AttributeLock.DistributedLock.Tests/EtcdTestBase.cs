using System.Diagnostics;
using AttributeLock.EtcdFixture;
using dotnet_etcd;

namespace AttributeLock.DistributedLock.Tests;

/// <summary>
/// Gives tests the shared real etcd, DistributedLock providers on it (each over its own engine, as separate processes
/// would have) and a plain etcd client to act behind the library's back.
/// </summary>
public abstract class EtcdTestBase : IAsyncLifetime
{
    internal const string EnginePrefix = "/attributelock-dl-tests";

    private readonly List<IAsyncDisposable> _disposables = new();

    protected string Endpoints { get; private set; } = "";

    protected EtcdClient Client { get; private set; } = null!;

    public virtual async Task InitializeAsync()
    {
        Endpoints = await SharedEtcd.GetEndpointsAsync();
        Client = new EtcdClient(SharedEtcd.First(Endpoints));
    }

    public virtual async Task DisposeAsync()
    {
        for (int i = _disposables.Count - 1; i >= 0; i--)
        {
            await _disposables[i].DisposeAsync();
        }

        Client.Dispose();
    }

    protected EtcdLockProviderOptions EngineOptions() => new() { Endpoints = { Endpoints }, KeyPrefix = EnginePrefix };

    /// <summary>A provider that owns a new engine (a new connection, as another process would have).</summary>
    protected EtcdDistributedSynchronizationProvider NewProvider(int? ttlSeconds = null, Action<EtcdDistributedLockOptions>? configure = null)
    {
        var options = new EtcdDistributedLockOptions { TtlSeconds = ttlSeconds };
        configure?.Invoke(options);
        var provider = new EtcdDistributedSynchronizationProvider(EngineOptions(), options);
        _disposables.Add(provider);
        return provider;
    }

    /// <summary>Disposes <paramref name="disposable"/> at the end of the test.</summary>
    protected T Track<T>(T disposable) where T : IAsyncDisposable
    {
        _disposables.Add(disposable);
        return disposable;
    }

    protected static string UniqueName(string name) => $"{name}-{Guid.NewGuid():N}";

    /// <summary>Waits until <paramref name="token"/> is cancelled, failing with <paramref name="what"/> after <paramref name="limit"/>.</summary>
    protected static async Task AssertCancelledWithin(CancellationToken token, TimeSpan limit, string what)
    {
        var fired = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using (token.Register(() => fired.TrySetResult()))
        {
            Task done = await Task.WhenAny(fired.Task, Task.Delay(limit));
            Assert.True(done == fired.Task, $"Not cancelled within {limit.TotalSeconds} s: {what}");
        }
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
