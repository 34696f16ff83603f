using Xunit;

namespace AttributeLock.EtcdFixture;

/// <summary>
/// An etcd of one test collection's own (an xunit collection fixture): started before the collection's first test and
/// stopped after its last, even when <c>ETCD_ENDPOINTS</c> is set. For tests that look at the whole server (every
/// lease in it, say) and so cannot share it with tests running beside them; their collection's tests still run one
/// after another.
/// </summary>
public sealed class CollectionEtcd : IAsyncLifetime
{
    private EtcdServer? _server;

    /// <summary>The server's client URL.</summary>
    public string Endpoint => _server?.Endpoint ?? throw new InvalidOperationException("The collection's etcd is not started.");

    public async Task InitializeAsync() => _server = await EtcdServer.StartAsync().ConfigureAwait(false);

    public async Task DisposeAsync()
    {
        if (_server is not null)
        {
            await _server.DisposeAsync().ConfigureAwait(false);
        }
    }
}
