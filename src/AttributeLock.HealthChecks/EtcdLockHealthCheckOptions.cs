namespace AttributeLock.HealthChecks;

/// <summary>Settings of <see cref="EtcdLockHealthCheck"/>.</summary>
public sealed class EtcdLockHealthCheckOptions
{
    /// <summary>The default of <see cref="DegradedWindow"/>: 5 minutes.</summary>
    public static readonly TimeSpan DefaultDegradedWindow = TimeSpan.FromMinutes(5);

    /// <summary>
    /// How long a lost hold keeps the check <c>Degraded</c>. Default: 5 minutes, long enough for a probe every 10 to 30
    /// seconds to report it several times, short enough that one incident does not mark the service for the rest of the day.
    /// </summary>
    public TimeSpan DegradedWindow { get; set; } = DefaultDegradedWindow;
}
