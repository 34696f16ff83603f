using System.Diagnostics.Metrics;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace AttributeLock;

/// <summary>Registers AttributeLock's <see cref="IEtcdLockProvider"/> in a service collection.</summary>
public static class EtcdLockServiceCollectionExtensions
{
    /// <summary>
    /// Registers one <see cref="EtcdLockProvider"/> (a singleton, also as <see cref="IEtcdLockProvider"/>) configured by
    /// <paramref name="configure"/> and by any other <see cref="EtcdLockProviderOptions"/> configuration.
    /// </summary>
    /// <param name="services">The service collection.</param>
    /// <param name="configure">Sets the options, for example the endpoints.</param>
    /// <returns>The same service collection.</returns>
    public static IServiceCollection AddEtcdLocks(this IServiceCollection services, Action<EtcdLockProviderOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        services.AddOptions<EtcdLockProviderOptions>();
        if (configure is not null)
        {
            services.Configure(configure);
        }

        services.TryAddSingleton(sp => new EtcdLockProvider(
            sp.GetRequiredService<IOptions<EtcdLockProviderOptions>>().Value,
            sp.GetService<ILogger<EtcdLockProvider>>(),
            sp.GetService<IMeterFactory>()));
        services.TryAddSingleton<IEtcdLockProvider>(sp => sp.GetRequiredService<EtcdLockProvider>());
        return services;
    }

    /// <summary>
    /// Registers the provider with options bound from <paramref name="configuration"/> (for example the section
    /// <c>EtcdLocks</c>: <c>Endpoints</c>, <c>KeyPrefix</c>, <c>Username</c>, <c>Password</c>, <c>ConnectTimeout</c>,
    /// <c>DefaultTtlSeconds</c>), then applies <paramref name="configure"/>.
    /// </summary>
    /// <param name="services">The service collection.</param>
    /// <param name="configuration">The configuration section holding the options.</param>
    /// <param name="configure">Further settings applied after binding.</param>
    /// <returns>The same service collection.</returns>
    public static IServiceCollection AddEtcdLocks(this IServiceCollection services, IConfiguration configuration, Action<EtcdLockProviderOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configuration);
        services.Configure<EtcdLockProviderOptions>(configuration);
        return services.AddEtcdLocks(configure);
    }
}
