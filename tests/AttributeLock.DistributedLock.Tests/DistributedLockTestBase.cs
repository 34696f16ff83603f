using AttributeLock.EtcdFixture;

namespace AttributeLock.DistributedLock.Tests;

/// <summary>
/// <see cref="EtcdTestBase"/> with DistributedLock providers on the shared etcd, each over its own engine (as separate
/// processes would have).
/// </summary>
public abstract class DistributedLockTestBase : EtcdTestBase
{
    internal const string EnginePrefix = "/attributelock-dl-tests";

    protected EtcdLockProviderOptions EngineOptions() => new() { Endpoints = { Endpoints }, KeyPrefix = EnginePrefix };

    /// <summary>A provider that owns a new engine (a new connection, as another process would have).</summary>
    protected EtcdDistributedSynchronizationProvider NewProvider(int? ttlSeconds = null, Action<EtcdDistributedLockOptions>? configure = null)
    {
        var options = new EtcdDistributedLockOptions { TtlSeconds = ttlSeconds };
        configure?.Invoke(options);
        return Track(new EtcdDistributedSynchronizationProvider(EngineOptions(), options));
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
}
