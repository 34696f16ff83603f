namespace AttributeLock;

/// <summary>
/// Settings of an <see cref="EtcdLockProvider"/>; bindable from <c>IConfiguration</c>
/// (for example the section <c>EtcdLocks</c>).
/// </summary>
public sealed class EtcdLockProviderOptions
{
    /// <summary>
    /// The etcd endpoints, for example <c>http://127.0.0.1:2379</c>; list every member of a cluster.
    /// A single entry may also hold a comma-separated list.
    /// </summary>
    public List<string> Endpoints { get; set; } = new();

    /// <summary>Prepended to every lock key, for example <c>/locks</c>. Empty by default.</summary>
    public string KeyPrefix { get; set; } = "";

    /// <summary>User name for etcd authentication; <c>null</c> when etcd has authentication off.</summary>
    public string? Username { get; set; }

    /// <summary>Password for etcd authentication. Never logged nor shown by <see cref="ToString"/>.</summary>
    public string? Password { get; set; }

    /// <summary>
    /// A PEM file with the certificate authority that signed etcd's server certificate. When set, the connection uses
    /// TLS (endpoints without a scheme get <c>https://</c>) and the server's certificate must chain to this CA and name
    /// one of the endpoints' hosts. When <c>null</c>, <c>https://</c> endpoints are checked against the system's trust store.
    /// </summary>
    public string? TlsCaCertificatePath { get; set; }

    /// <summary>A PEM client certificate for etcd's <c>--client-cert-auth</c> (with <see cref="TlsClientKeyPath"/>).</summary>
    public string? TlsClientCertificatePath { get; set; }

    /// <summary>The PEM private key of <see cref="TlsClientCertificatePath"/>.</summary>
    public string? TlsClientKeyPath { get; set; }

    /// <summary>
    /// How long one request to etcd may take, connecting and the client's retries included, before the
    /// operation fails with <see cref="EtcdLockUnavailableException"/>. Default: 5 seconds.
    /// </summary>
    public TimeSpan ConnectTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>The lease's time to live in seconds when a call does not say. Default: 15.</summary>
    public int DefaultTtlSeconds { get; set; } = 15;

    /// <summary>
    /// The largest lock key accepted, in UTF-8 bytes, prefix included. A longer key is refused with an
    /// <see cref="ArgumentException"/> before anything is sent to etcd. Default: 4096.
    /// </summary>
    public int MaxKeyBytes { get; set; } = 4096;

    /// <summary>
    /// Keep one lease per TTL in use granted ahead of time (a spare), so that an uncontended acquire sends its lock
    /// transaction at once instead of waiting for a lease grant first. Each hold still gets a lease of its own (a spare
    /// is handed to exactly one acquire, then replaced in the background) and revokes it on release. A spare is
    /// renewed like a held lease and revoked when it has not been taken for max(2 × TTL, 30 s) or when the provider is
    /// disposed. <c>false</c>: every acquire grants its lease itself, and no lease is kept between calls. Default: <c>true</c>.
    /// </summary>
    public bool SpareLeases { get; set; } = true;

    /// <inheritdoc />
    public override string ToString() =>
        $"Endpoints=[{string.Join(", ", Endpoints)}], KeyPrefix={KeyPrefix}, Username={(Username is null ? "(none)" : Username)}, " +
        $"Password={(Password is null ? "(none)" : "***")}, TlsCaCertificatePath={TlsCaCertificatePath ?? "(none)"}, " +
        $"ConnectTimeout={ConnectTimeout}, DefaultTtlSeconds={DefaultTtlSeconds}, SpareLeases={SpareLeases}";
}
