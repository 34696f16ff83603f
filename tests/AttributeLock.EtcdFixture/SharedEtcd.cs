using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace AttributeLock.EtcdFixture;

/// <summary>
/// The etcd that the tests of one process share: <c>ETCD_ENDPOINTS</c> when set, else one <see cref="EtcdServer"/>
/// started on first use and stopped when the process exits.
/// </summary>
public static class SharedEtcd
{
    private static readonly Lazy<Task<(string Endpoints, EtcdServer? Server)>> s_instance = new(StartAsync);

    public static async Task<string> GetEndpointsAsync() => (await s_instance.Value.ConfigureAwait(false)).Endpoints;

    private static async Task<(string, EtcdServer?)> StartAsync()
    {
        string? configured = Environment.GetEnvironmentVariable("ETCD_ENDPOINTS");
        if (!string.IsNullOrWhiteSpace(configured))
        {
            return (configured, null);
        }

        EtcdServer server = await EtcdServer.StartAsync().ConfigureAwait(false);
        AppDomain.CurrentDomain.ProcessExit += (_, _) => server.DisposeAsync().AsTask().GetAwaiter().GetResult();
        return (server.Endpoint, server);
    }

    /// <summary>The first endpoint of a comma-separated list, for metrics.</summary>
    public static string First(string endpoints) => endpoints.Split(',')[0].Trim() is var e && e.Contains("://") ? e : "http://" + e;
}
