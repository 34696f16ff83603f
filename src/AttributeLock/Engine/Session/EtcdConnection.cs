using System.Diagnostics.Metrics;
using dotnet_etcd;
using Etcdserverpb;
using Google.Protobuf;
using Grpc.Core;
using Grpc.Core.Interceptors;
using Grpc.Net.Client;
using Microsoft.Extensions.Logging;

namespace AttributeLock.Engine.Session;

/// <summary>
/// The session's one connection to etcd (through dotnet-etcd) and what every request needs (<see cref="IEtcdCalls"/>):
/// all locks of a provider share it.
/// </summary>
internal sealed class EtcdConnection : IEtcdCalls, IDisposable
{
    private static long s_providerCount;

    private readonly EtcdClient _client;
    private readonly string _endpoints;
    private readonly TimeSpan _requestTimeout;
    private readonly CancellationTokenSource _stop = new();
    // The last configuration mistake the channel met while connecting, for requests that end without a cause.
    private readonly ConnectionDiagnostics _diagnostics = new();

    /// <param name="options">Endpoints, credentials and TLS (validated already).</param>
    /// <param name="settings">The request timeout.</param>
    /// <param name="logger">Where the engine logs.</param>
    /// <param name="meterFactory">Creates the library's <see cref="Meter"/>; <c>null</c> creates it directly.</param>
    /// <param name="interceptors">gRPC interceptors every call passes through (tests inject faults there).</param>
    public EtcdConnection(EtcdLockProviderOptions options, EngineSettings settings, ILogger logger, IMeterFactory? meterFactory, Interceptor[]? interceptors)
    {
        _requestTimeout = settings.RequestTimeout;
        Logger = logger;
        bool tls = options.TlsCaCertificatePath is not null;
        _endpoints = NormalizeEndpoints(options.Endpoints, tls ? "https://" : "http://");
        string[] hosts = _endpoints.Split(',').Select(e => new Uri(e).Host).ToArray();
        Action<GrpcChannelOptions> channel = ConnectionSettings.ConfigureChannel(options, hosts, _diagnostics);
        _client = options.Username is null
            ? new EtcdClient(_endpoints, serverName: hosts[0], configureChannelOptions: channel, interceptors: interceptors)
            : new EtcdClient(_endpoints, options.Username, options.Password ?? "", serverName: hosts[0], configureChannelOptions: channel);
        var connection = _client.GetConnection();
        Kv = connection.KVClient;
        Leases = connection.LeaseClient;
        Watches = connection.WatchClient;
        Metrics = new LockMetrics(meterFactory);
        HolderId = $"{Environment.MachineName} pid={Environment.ProcessId} provider={Interlocked.Increment(ref s_providerCount)}-{Guid.NewGuid().ToString("N")[..8]}";
        HolderBytes = ByteString.CopyFromUtf8(HolderId);
    }

    public KV.KVClient Kv { get; }

    public Lease.LeaseClient Leases { get; }

    public Watch.WatchClient Watches { get; }

    public string HolderId { get; }

    public ByteString HolderBytes { get; }

    public ILogger Logger { get; }

    public LockMetrics Metrics { get; }

    public CancellationToken StopToken => _stop.Token;

    public CallOptions CallOptions() => new(deadline: DateTime.UtcNow + _requestTimeout);

    public CallOptions CallOptions(CancellationToken cancellationToken) => new(deadline: DateTime.UtcNow + _requestTimeout, cancellationToken: cancellationToken);

    public CallOptions CallOptions(CancellationToken cancellationToken, DateTime? deadline) =>
        new(deadline: deadline ?? DateTime.UtcNow + _requestTimeout, cancellationToken: cancellationToken);

    public DateTime FirstAttemptDeadline() => DateTime.UtcNow + _requestTimeout;

    public EtcdLockUnavailableException Unavailable(string fullKey, string what, Exception ex) =>
        EtcdErrors.Map(_endpoints, _requestTimeout, fullKey, what, ex, _diagnostics.RecentProblem(_requestTimeout + TimeSpan.FromSeconds(1)));

    /// <summary>Cancels <see cref="StopToken"/>: the first step of the provider's dispose.</summary>
    public void Stop() => _stop.Cancel();

    /// <summary>Closes the connection and the meter; the last step of the provider's dispose.</summary>
    public void Dispose()
    {
        _client.Dispose();
        Metrics.Dispose();
    }

    /// <summary>The configured endpoints as one comma-separated list, each with a scheme.</summary>
    /// <exception cref="InvalidOperationException">No endpoint is configured.</exception>
    public static string NormalizeEndpoints(IEnumerable<string> endpoints, string defaultScheme = "http://")
    {
        var list = endpoints
            .SelectMany(e => (e ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            .Select(e => e.Contains("://", StringComparison.Ordinal) ? e : defaultScheme + e)
            .ToList();
        if (list.Count == 0)
        {
            throw new InvalidOperationException("No etcd endpoint is configured (EtcdLockProviderOptions.Endpoints is empty).");
        }

        return string.Join(",", list);
    }
}
