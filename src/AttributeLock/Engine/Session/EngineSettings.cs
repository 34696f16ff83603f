namespace AttributeLock.Engine.Session;

/// <summary>
/// The option values the engine reads, fixed when the provider is built: those of <see cref="EtcdLockProviderOptions"/>
/// the session and the protocols use, and internal settings that tests shorten (they are not options: no
/// application needs them).
/// </summary>
internal sealed record EngineSettings
{
    /// <summary>
    /// How long one request to etcd may take (<see cref="EtcdLockProviderOptions.ConnectTimeout"/>); it also bounds a
    /// dispose, the back-pressure wait of an acquire and an unconfirmed watch.
    /// </summary>
    public required TimeSpan RequestTimeout { get; init; }

    /// <summary>Whether leases are granted ahead of need (<see cref="EtcdLockProviderOptions.SpareLeases"/>).</summary>
    public required bool SpareLeases { get; init; }

    /// <summary>The object name of the <see cref="ObjectDisposedException"/> an acquire ends with when dispose stops it.</summary>
    public required string OwnerName { get; init; }

    /// <summary>How often a waiter re-reads the key while its watch is quiet, to survive a stalled watch stream.</summary>
    public TimeSpan WatchRecheckInterval { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// Renewals per second from which a session counts as large (<see cref="LeaseKeeper.LargeDemand"/>), and which
    /// leases not renewed yet may need in any case (also <see cref="LeaseKeeper.LargeDemand"/>): 500 by default.
    /// </summary>
    public double LargeSessionRenewals { get; init; } = LeaseKeeper.DefaultLargeSessionRenewals;

    /// <summary>
    /// Revokes a session sends at once; more wait their turn (<see cref="LeaseGrants"/>). A storm of releases would
    /// otherwise reach etcd all together and hold up the renewals of the holds still kept, as etcd itself sends at most
    /// 16 revokes of expired leases at once (<c>maxPendingRevokes</c>).
    /// </summary>
    public int MaxRevokesInFlight { get; init; } = 32;

    /// <summary>How long a spare lease may stay untaken; <c>null</c>: max(2 × TTL, 30 s).</summary>
    public TimeSpan? SpareIdleTimeout { get; init; }

    /// <summary>The settings of a provider built with <paramref name="options"/>.</summary>
    public static EngineSettings From(EtcdLockProviderOptions options, string ownerName) => new()
    {
        RequestTimeout = options.ConnectTimeout,
        SpareLeases = options.SpareLeases,
        OwnerName = ownerName,
    };
}
