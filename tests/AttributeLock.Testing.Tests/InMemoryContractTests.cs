using dotnet_etcd;
using Etcdserverpb;

namespace AttributeLock.Testing.Tests;

public sealed class InMemoryContractTests : ProviderContractTests
{
    private InMemoryEtcdLockProvider _double = null!;

    protected override Task<IEtcdLockProvider> CreateAsync()
    {
        _double = new InMemoryEtcdLockProvider(new InMemoryEtcdLockProviderOptions { KeyPrefix = Prefix });
        return Task.FromResult<IEtcdLockProvider>(_double);
    }

    protected override Task LoseAsync(EtcdLockHandle handle, string key)
    {
        Assert.True(_double.LoseHoldOf(handle));
        return Task.CompletedTask;
    }

    protected override Task<IAsyncDisposable> HoldElsewhereAsync(string key) =>
        Task.FromResult<IAsyncDisposable>(new Disposer(_double.HoldElsewhere(key)));

    private sealed class Disposer(IDisposable inner) : IAsyncDisposable
    {
        public ValueTask DisposeAsync()
        {
            inner.Dispose();
            return ValueTask.CompletedTask;
        }
    }
}
