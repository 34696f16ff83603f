using System.Diagnostics.Metrics;
using AttributeLock.HealthChecks;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Adds AttributeLock's <see cref="EtcdLockHealthCheck"/> to a health checks builder.</summary>
public static class EtcdLockHealthChecksBuilderExtensions
{
    /// <summary>The default name of the check: <c>attributelock-etcd</c>.</summary>
    public const string DefaultName = "attributelock-etcd";

    /// <summary>
    /// Adds a check of the <see cref="AttributeLock.EtcdLockProvider"/> registered by <c>AddEtcdLocks</c>: Unhealthy
    /// (or <paramref name="failureStatus"/>) when etcd cannot be reached within the provider's
    /// <see cref="AttributeLock.EtcdLockProviderOptions.ConnectTimeout"/>, Degraded when a lock hold was lost within
    /// <paramref name="degradedWindow"/> (default 5 minutes), Healthy otherwise. Lost holds are counted from the host's
    /// start (or from the first check without a host). Invalid provider options are reported as Unhealthy (or
    /// <paramref name="failureStatus"/>) naming the mistake; with a host they already stop its start.
    /// </summary>
    /// <param name="builder">The health checks builder.</param>
    /// <param name="name">The check's name; default <see cref="DefaultName"/>.</param>
    /// <param name="failureStatus">Reported when etcd cannot be reached; default <see cref="HealthStatus.Unhealthy"/>.</param>
    /// <param name="tags">Tags of the check, for example <c>ready</c>.</param>
    /// <param name="degradedWindow">How long a lost hold keeps the check Degraded; default 5 minutes.</param>
    /// <returns>The same builder.</returns>
    public static IHealthChecksBuilder AddEtcdLocks(
        this IHealthChecksBuilder builder,
        string name = DefaultName,
        HealthStatus? failureStatus = null,
        IEnumerable<string>? tags = null,
        TimeSpan? degradedWindow = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentException.ThrowIfNullOrEmpty(name);
        var options = new EtcdLockHealthCheckOptions { DegradedWindow = degradedWindow ?? EtcdLockHealthCheckOptions.DefaultDegradedWindow };
        if (options.DegradedWindow <= TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(degradedWindow), degradedWindow, "The degraded window must be positive.");
        }

        builder.Services.TryAddSingleton(sp => new LostHoldMonitor(sp.GetService<IMeterFactory>(), sp.GetService<TimeProvider>()));
        builder.Services.TryAddEnumerable(ServiceDescriptor.Singleton<IHostedService, LostHoldMonitorStarter>());
        return builder.Add(new HealthCheckRegistration(
            name,
            // The provider is resolved when the check runs, inside it: invalid options make the check Unhealthy
            // (naming the mistake) instead of making the health endpoint itself throw.
            sp => new EtcdLockHealthCheck(() => sp.GetRequiredService<AttributeLock.EtcdLockProvider>(), sp.GetRequiredService<LostHoldMonitor>(), options),
            failureStatus,
            tags));
    }

    /// <summary>Starts the monitor with the host, so that holds lost before the first check count too.</summary>
    private sealed class LostHoldMonitorStarter(LostHoldMonitor monitor) : IHostedService
    {
        public Task StartAsync(CancellationToken cancellationToken)
        {
            GC.KeepAlive(monitor);
            return Task.CompletedTask;
        }

        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }
}
