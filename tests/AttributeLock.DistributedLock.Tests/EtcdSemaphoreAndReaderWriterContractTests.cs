using AttributeLock.EtcdFixture;

namespace AttributeLock.DistributedLock.Tests;

/// <summary>The contract over the engine on the shared etcd: each provider owns an engine, as a process would.</summary>
public sealed class EtcdSemaphoreAndReaderWriterContractTests : SemaphoreAndReaderWriterContractTests
{
    private readonly List<EtcdDistributedSynchronizationProvider> _providers = new();
    private string _endpoints = "";

    public override async Task InitializeAsync() => _endpoints = await SharedEtcd.GetEndpointsAsync();

    protected override EtcdDistributedSynchronizationProvider NewProvider()
    {
        var provider = new EtcdDistributedSynchronizationProvider(new EtcdLockProviderOptions { Endpoints = { _endpoints }, KeyPrefix = DistributedLockTestBase.EnginePrefix });
        _providers.Add(provider);
        return provider;
    }

    protected override Task DisposeEngineAsync(EtcdDistributedSynchronizationProvider provider) => provider.DisposeAsync().AsTask();

    public override async Task DisposeAsync()
    {
        for (int i = _providers.Count - 1; i >= 0; i--)
        {
            await _providers[i].DisposeAsync();
        }
    }
}
