using AttributeLock.Testing;
using Medallion.Threading;
using Microsoft.Extensions.DependencyInjection;

namespace AttributeLock.DistributedLock.Tests;

/// <summary>The contract over the in-memory double: providers over one double stand for processes over one etcd.</summary>
public sealed class InMemorySemaphoreAndReaderWriterContractTests : SemaphoreAndReaderWriterContractTests
{
    private readonly InMemoryEtcdLockProvider _engine = new(new InMemoryEtcdLockProviderOptions { KeyPrefix = DistributedLockTestBase.EnginePrefix });

    protected override EtcdDistributedSynchronizationProvider NewProvider() => new(_engine);

    protected override Task DisposeEngineAsync(EtcdDistributedSynchronizationProvider provider) => _engine.DisposeAsync().AsTask();

    public override Task DisposeAsync() => _engine.DisposeAsync().AsTask();

    [Fact]
    public async Task AddEtcdDistributedLocks_registers_the_semaphore_and_reader_writer_providers()
    {
        var services = new ServiceCollection();
        services.AddSingleton<IEtcdLockProvider>(_engine); // the engine's registration keeps it
        services.AddEtcdLocks(o => o.Endpoints.Add("http://127.0.0.1:1")); // never connected: the double stands in
        services.AddEtcdDistributedLocks();
        await using ServiceProvider container = services.BuildServiceProvider();

        var concrete = container.GetRequiredService<EtcdDistributedSynchronizationProvider>();
        Assert.Same(concrete, container.GetRequiredService<IDistributedSemaphoreProvider>());
        Assert.Same(concrete, container.GetRequiredService<IDistributedReaderWriterLockProvider>());
        Assert.Same(concrete, container.GetRequiredService<IDistributedLockProvider>());
        await using IDistributedSynchronizationHandle place = await container.GetRequiredService<IDistributedSemaphoreProvider>().AcquireSemaphoreAsync("di", 1);
        Assert.IsType<EtcdDistributedSemaphoreHandle>(place);
    }
}
