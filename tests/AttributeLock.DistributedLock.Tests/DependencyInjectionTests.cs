using Medallion.Threading;
using Microsoft.Extensions.DependencyInjection;

namespace AttributeLock.DistributedLock.Tests;

/// <summary>AddEtcdDistributedLocks registers DistributedLock's provider over the container's engine.</summary>
public sealed class DependencyInjectionTests : DistributedLockTestBase
{
    [Fact]
    public async Task The_registered_IDistributedLockProvider_takes_locks_in_etcd()
    {
        var services = new ServiceCollection();
        services.AddEtcdLocks(o =>
        {
            o.Endpoints.Add(Endpoints);
            o.KeyPrefix = EnginePrefix;
            o.MaxKeyBytes = 600;
        });
        services.AddEtcdDistributedLocks(o =>
        {
            o.KeyPrefix = "/dl/";
            o.MaxKeyBytes = 600 - EnginePrefix.Length; // the engine's budget is smaller than the default of 1024
        });
        await using ServiceProvider container = services.BuildServiceProvider();

        var provider = container.GetRequiredService<IDistributedLockProvider>();
        var concrete = Assert.IsType<EtcdDistributedSynchronizationProvider>(provider);
        Assert.Same(container.GetRequiredService<IEtcdLockProvider>(), concrete.Engine);
        Assert.Equal(600 - EnginePrefix.Length, concrete.MaxKeyBytes);

        string name = UniqueName("di");
        await using IDistributedSynchronizationHandle handle = await provider.AcquireLockAsync(name, TimeSpan.FromSeconds(10));
        var etcdHandle = Assert.IsType<EtcdDistributedLockHandle>(handle);
        Assert.Equal($"{EnginePrefix}/dl/{name}", etcdHandle.Key);
        Assert.Null(await NewProvider(configure: o => o.KeyPrefix = "/dl/").CreateLock(name).TryAcquireAsync());

        // A name too long for the engine's budget is hashed into it instead of being refused.
        string longName = new('n', 2000);
        await using IDistributedSynchronizationHandle? longHandle = await provider.TryAcquireLockAsync(longName);
        Assert.NotNull(longHandle);
    }
}
