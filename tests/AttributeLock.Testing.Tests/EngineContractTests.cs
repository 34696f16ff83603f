using AttributeLock.EtcdFixture;
using dotnet_etcd;
using Etcdserverpb;

namespace AttributeLock.Testing.Tests;

public sealed class EngineContractTests : ProviderContractTests
{
    private EtcdClient _client = null!;
    private EtcdLockProvider _elsewhere = null!;

    protected override async Task<IEtcdLockProvider> CreateAsync()
    {
        string endpoints = await SharedEtcd.GetEndpointsAsync();
        _client = new EtcdClient(SharedEtcd.First(endpoints));
        _elsewhere = new EtcdLockProvider(new EtcdLockProviderOptions { Endpoints = { endpoints }, KeyPrefix = Prefix });
        return new EtcdLockProvider(new EtcdLockProviderOptions { Endpoints = { endpoints }, KeyPrefix = Prefix });
    }

    protected override async Task LoseAsync(EtcdLockHandle handle, string key) =>
        await _client.LeaseRevokeAsync(new LeaseRevokeRequest { ID = handle.LeaseId });

    protected override async Task<IAsyncDisposable> HoldElsewhereAsync(string key) => await _elsewhere.AcquireAsync(key);

    public override async Task DisposeAsync()
    {
        await base.DisposeAsync();
        await _elsewhere.DisposeAsync();
        _client.Dispose();
    }
}
