using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;

namespace AttributeLock.HealthChecks;

/// <summary>
/// The health of an <see cref="EtcdLockProvider"/>: <see cref="HealthStatus.Unhealthy"/> (or the registration's failure
/// status) when etcd does not answer a read through the provider's connection within
/// <see cref="EtcdLockProviderOptions.ConnectTimeout"/>; <see cref="HealthStatus.Degraded"/> when etcd answers but holds
/// were lost within <see cref="EtcdLockHealthCheckOptions.DegradedWindow"/> (a lost hold means its lease expired or
/// was revoked while the caller still worked under the lock), or when the provider's lease renewals are a second or
/// more behind, or when the renewals its held locks need reach <see cref="EtcdLockProvider.RenewalCapacityShare"/> of the
/// <see cref="EtcdLockProvider.RenewalCapacity"/> measured (it holds more locks than it or etcd can renew, or etcd
/// answers slowly; new acquires then wait and are refused instead of every hold being lost at once); otherwise <see cref="HealthStatus.Healthy"/>. A provider
/// that cannot be created because its options are invalid (no endpoint, a malformed one, ...) is reported as the
/// failure status too, with the configuration error as description, instead of making the health endpoint throw.
/// Each election this process runs through the provider (<see cref="EtcdLeadership.RunAsync"/>,
/// <see cref="EtcdLeaderAttribute"/>) is reported in the data as <c>election:{key}</c> = <c>leader</c> or
/// <c>follower</c>, and named in the description; a follower is healthy.
/// </summary>
public sealed class EtcdLockHealthCheck : IHealthCheck
{
    private readonly Func<EtcdLockProvider> _provider;
    private readonly LostHoldMonitor _monitor;
    private readonly EtcdLockHealthCheckOptions _options;

    internal EtcdLockHealthCheck(EtcdLockProvider provider, LostHoldMonitor monitor, EtcdLockHealthCheckOptions options)
        : this(() => provider, monitor, options)
    {
    }

    // provider: resolves the provider when the check runs; its creation fails when the options are invalid.
    internal EtcdLockHealthCheck(Func<EtcdLockProvider> provider, LostHoldMonitor monitor, EtcdLockHealthCheckOptions options)
    {
        _provider = provider;
        _monitor = monitor;
        _options = options;
    }

    /// <inheritdoc />
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(context);
        EtcdLockProvider provider;
        try
        {
            provider = _provider();
        }
        catch (Exception ex) when (ex is OptionsValidationException or ArgumentException or InvalidOperationException or UriFormatException
            or IOException or System.Security.Cryptography.CryptographicException)
        {
            // Invalid options (no endpoint, a malformed one, a missing certificate file), or no provider registered.
            return new HealthCheckResult(context.Registration.FailureStatus, $"the etcd lock provider is misconfigured: {ex.Message}", ex);
        }

        TimeSpan roundTrip;
        try
        {
            roundTrip = await provider.PingAsync(cancellationToken).ConfigureAwait(false);
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

        // The elections this process runs (EtcdLeadership.RunAsync, [EtcdLeader]): "leader" or "follower" each, for
        // dashboards and routing; being a follower is healthy.
        string roles = "";
        IReadOnlyDictionary<string, EtcdElectionRole> elections = EtcdLeadership.Roles(provider);
        foreach ((string election, EtcdElectionRole role) in elections)
        {
            data["election:" + election] = role == EtcdElectionRole.Leader ? "leader" : "follower";
        }

        if (elections.Count > 0)
        {
            roles = "; " + string.Join(", ", elections.Select(e => $"{(e.Value == EtcdElectionRole.Leader ? "leader" : "follower")} of election {e.Key}"));
        }

        // Every reason to be degraded is named (a lost hold and renewals that lag often come together).
        var reasons = new List<string>(3);
        if (lost > 0)
        {
            reasons.Add($"{lost} lock hold(s) were lost in the last {_options.DegradedWindow.TotalMinutes:0.#} min (last at {last:O})");
        }

        TimeSpan lag = provider.RenewalLag;
        data["renewalLagMs"] = Math.Round(lag.TotalMilliseconds, 1);
        if (lag >= EtcdLockProvider.RenewalLagLimit)
        {
            reasons.Add($"lease renewals are {lag.TotalMilliseconds:0} ms behind: new acquires wait, then are refused, until they catch up (too many holds for this process or etcd?)");
        }

        double demand = provider.RenewalDemand;
        data["renewalDemandPerSecond"] = Math.Round(demand, 1);
        if (provider.RenewalCapacity is double capacity)
        {
            data["renewalCapacityPerSecond"] = Math.Round(capacity, 1);
            if (demand >= EtcdLockProvider.RenewalCapacityShare * capacity)
            {
                reasons.Add($"the held locks need {demand:0} lease renewals per second and this provider was measured to carry about {capacity:0}: " +
                    $"new acquires are refused past {EtcdLockProvider.RenewalCapacityShare:P0} of that (too many holds for this process or etcd; longer TTLs need fewer renewals)");
            }
        }

        if (reasons.Count > 0)
        {
            return HealthCheckResult.Degraded($"etcd answered in {roundTrip.TotalMilliseconds:0} ms, but " + string.Join("; and ", reasons) + roles, data: data);
        }

        return HealthCheckResult.Healthy($"etcd answered in {roundTrip.TotalMilliseconds:0} ms; no lock hold lost in the last {_options.DegradedWindow.TotalMinutes:0.#} min" + roles, data);
    }
}
