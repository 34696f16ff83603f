using AttributeLock.Engine.Session;
using AttributeLock.EtcdFixture;

namespace AttributeLock.Tests;

/// <summary>
/// <see cref="EtcdTestBase"/> with <see cref="EtcdLockProvider"/>s on the shared etcd, made through the provider's
/// internal constructor (gRPC interceptors, engine settings) and observed through its probe (the spare leases it keeps).
/// </summary>
public abstract class ProviderTestBase : EtcdTestBase
{
    internal EtcdLockProvider NewProvider(Action<EtcdLockProviderOptions>? configure = null, Grpc.Core.Interceptors.Interceptor[]? interceptors = null, Func<EngineSettings, EngineSettings>? tune = null)
    {
        var options = new EtcdLockProviderOptions { Endpoints = { Endpoints }, KeyPrefix = "/attributelock-tests" };
        configure?.Invoke(options);
        // Warnings and errors (a renewal that failed, a lost hold and why) go to the test's output, shown when it fails.
        var p = new EtcdLockProvider(options, new ConsoleLog(Microsoft.Extensions.Logging.LogLevel.Warning), null, interceptors, tune);
        return Track(p);
    }

    /// <summary>
    /// The leases etcd has now that it did not have in <paramref name="before"/>, except the spares the given providers
    /// keep (granted ahead of time for their next acquire): what an acquire left behind. Empty when nothing leaked.
    /// </summary>
    protected async Task<List<long>> LeasesLeftAsync(HashSet<long> before, params EtcdLockProvider[] providers)
    {
        HashSet<long> now = await LeaseIdsAsync();
        now.ExceptWith(before);
        foreach (EtcdLockProvider p in providers)
        {
            now.ExceptWith(p.Probe.SpareLeaseIds);
        }

        return now.ToList();
    }
}
