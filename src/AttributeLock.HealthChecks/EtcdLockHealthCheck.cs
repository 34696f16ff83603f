using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace AttributeLock.HealthChecks;

/// <summary>
/// The health of an <see cref="EtcdLockProvider"/>: <see cref="HealthStatus.Unhealthy"/> (or the registration's failure
/// status) when etcd does not answer a read through the provider's connection within
/// <see cref="EtcdLockProviderOptions.ConnectTimeout"/>; <see cref="HealthStatus.Degraded"/> when etcd answers but holds
/// were lost within <see cref="EtcdLockHealthCheckOptions.DegradedWindow"/> (a lost hold means its lease expired or
/// was revoked while the caller still worked under the lock); otherwise <see cref="HealthStatus.Healthy"/>.
/// </summary>
public sealed class EtcdLockHealthCheck : IHealthCheck
{
    private readonly EtcdLockProvider _provider;
    private readonly LostHoldMonitor _monitor;
    private readonly EtcdLockHealthCheckOptions _options;

    internal EtcdLockHealthCheck(EtcdLockProvider provider, LostHoldMonitor monitor, EtcdLockHealthCheckOptions options)
    {
        _provider = provider;
        _monitor = monitor;
        _options = options;
    }

    /// <inheritdoc />
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(context);
        TimeSpan roundTrip;
        try
        {
            roundTrip = await _provider.PingAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is EtcdLockUnavailableException or ObjectDisposedException)
        {
            return new HealthCheckResult(context.Registration.FailureStatus, $"etcd cannot be reached: {ex.Message}", ex);
        }

        (int lost, DateTimeOffset? last) = _monitor.LostWithin(_options.DegradedWindow);
        var data = new Dictionary<string, object>
        {
            ["roundTripMs"] = Math.Round(roundTrip.TotalMilliseconds, 1),
            ["holdsLostInWindow"] = lost,
            ["degradedWindowSeconds"] = _options.DegradedWindow.TotalSeconds,
            ["holdsLostTotal"] = _monitor.Total,
        };
        if (last is { } at)
        {
            data["lastHoldLostAt"] = at.ToString("O", System.Globalization.CultureInfo.InvariantCulture);
        }

        if (lost > 0)
        {
            return HealthCheckResult.Degraded(
                $"etcd answered in {roundTrip.TotalMilliseconds:0} ms, but {lost} lock hold(s) were lost in the last {_options.DegradedWindow.TotalMinutes:0.#} min (last at {last:O})",
                data: data);
        }

        return HealthCheckResult.Healthy($"etcd answered in {roundTrip.TotalMilliseconds:0} ms; no lock hold lost in the last {_options.DegradedWindow.TotalMinutes:0.#} min", data);
    }
}
