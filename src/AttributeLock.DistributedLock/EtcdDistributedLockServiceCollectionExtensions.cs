using Medallion.Threading;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace AttributeLock.DistributedLock;

/// <summary>Registers the etcd backend of DistributedLock in a service collection.</summary>
public static class EtcdDistributedLockServiceCollectionExtensions
{
    /// <summary>
    /// Registers an <see cref="EtcdDistributedSynchronizationProvider"/> (a singleton, also as DistributedLock's
    /// <see cref="IDistributedLockProvider"/>, <see cref="IDistributedSemaphoreProvider"/> and
    /// <see cref="IDistributedReaderWriterLockProvider"/>) over the <see cref="IEtcdLockProvider"/> of the container, which it
    /// registers with <c>AddEtcdLocks()</c> when missing: configure the engine there (endpoints, key prefix, ...).
    /// </summary>
    /// <param name="services">The service collection.</param>
    /// <param name="configure">Sets this backend's options (key prefix, key budget, lease TTL).</param>
    /// <returns>The same service collection.</returns>
    public static IServiceCollection AddEtcdDistributedLocks(this IServiceCollection services, Action<EtcdDistributedLockOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        services.AddEtcdLocks();
        services.AddOptions<EtcdDistributedLockOptions>();
        if (configure is not null)
        {
            services.Configure(configure);
        }

        services.TryAddSingleton(sp => new EtcdDistributedSynchronizationProvider(
            sp.GetRequiredService<IEtcdLockProvider>(),
            owned: null,
            sp.GetRequiredService<IOptions<EtcdDistributedLockOptions>>().Value,
            EtcdDistributedSynchronizationProvider.EngineBudget(sp.GetRequiredService<IOptions<EtcdLockProviderOptions>>().Value)));
        services.TryAddSingleton<IDistributedLockProvider>(sp => sp.GetRequiredService<EtcdDistributedSynchronizationProvider>());
        services.TryAddSingleton<IDistributedSemaphoreProvider>(sp => sp.GetRequiredService<EtcdDistributedSynchronizationProvider>());
        services.TryAddSingleton<IDistributedReaderWriterLockProvider>(sp => sp.GetRequiredService<EtcdDistributedSynchronizationProvider>());
        return services;
    }
}
