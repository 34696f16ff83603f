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
    /// <paramref name="configure"/> and by any other <see cref="EtcdLockProviderOptions"/> configuration. The options are
    /// validated when the host starts (<c>ValidateOnStart</c>): no endpoint, a malformed endpoint, a TTL below 1 s, a
    /// non-positive timeout or a missing TLS file stop the start with an <see cref="OptionsValidationException"/> naming
    /// the setting and its value.
    /// </summary>
    /// <param name="services">The service collection.</param>
    /// <param name="configure">Sets the options, for example the endpoints.</param>
    /// <returns>The same service collection.</returns>
    public static IServiceCollection AddEtcdLocks(this IServiceCollection services, Action<EtcdLockProviderOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        services.AddOptions<EtcdLockProviderOptions>().ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<EtcdLockProviderOptions>, EtcdLockProviderOptionsValidator>(
            sp => new EtcdLockProviderOptionsValidator(sp.GetService<EtcdLockConfigurationSource>())));
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
    /// <c>DefaultTtlSeconds</c>, the TLS paths, <c>MaxKeyBytes</c>), then applies <paramref name="configure"/>.
    /// Binding is source-generated: it behaves the same under Native AOT and trimming as under the JIT.
    /// <c>Endpoints</c> may be a list (<c>Endpoints:0</c>, <c>Endpoints:1</c>, a JSON array) or one comma-separated value
    /// (<c>EtcdLocks__Endpoints=http://a:2379,http://b:2379</c> in the environment); a value given on <c>Endpoints</c>
    /// itself replaces the list's entries.
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
        services.Configure<EtcdLockProviderOptions>(o => BindEndpointList(configuration, o));
        // Validation errors name settings by their configuration path (EtcdLocks:Endpoints:0), not their C# name.
        services.TryAddSingleton(new EtcdLockConfigurationSource(configuration));
        return services.AddEtcdLocks(configure);
    }

    /// <summary>
    /// Binds <paramref name="options"/> from <paramref name="configuration"/> the way
    /// <see cref="AddEtcdLocks(IServiceCollection, IConfiguration, Action{EtcdLockProviderOptions}?)"/> does, for code
    /// that builds an <see cref="EtcdLockProvider"/> without dependency injection. Trim- and AOT-safe.
    /// </summary>
    /// <param name="configuration">The configuration section holding the options, for example <c>EtcdLocks</c>.</param>
    /// <param name="options">The options to fill; values missing from the configuration are left as they are.</param>
    /// <returns><paramref name="options"/>.</returns>
    public static EtcdLockProviderOptions BindEtcdLockOptions(this IConfiguration configuration, EtcdLockProviderOptions options)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        ArgumentNullException.ThrowIfNull(options);
        configuration.Bind(options);
        BindEndpointList(configuration, options);
        return options;
    }

    /// <summary>
    /// A flat value on <c>Endpoints</c> (one environment variable, a command-line switch, a JSON string) is a
    /// comma-separated list; the binder ignores values on a collection's own key, so it is read here.
    /// </summary>
    private static void BindEndpointList(IConfiguration configuration, EtcdLockProviderOptions options)
    {
        string? flat = configuration[nameof(EtcdLockProviderOptions.Endpoints)];
        if (!string.IsNullOrWhiteSpace(flat))
        {
            options.Endpoints = [.. flat.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)];
        }
    }
}
