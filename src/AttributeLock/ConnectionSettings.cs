using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using Grpc.Core;
using Grpc.Net.Client;

namespace AttributeLock;

/// <summary>How the provider's gRPC channel to etcd is set up: HTTP/2 keep-alive pings and TLS.</summary>
internal static class ConnectionSettings
{
    public static Action<GrpcChannelOptions> ConfigureChannel(EtcdLockProviderOptions options, string[] hosts, ConnectionDiagnostics? diagnostics = null)
    {
        bool https = options.TlsCaCertificatePath is not null
            || options.Endpoints.Any(e => e.Contains("https://", StringComparison.OrdinalIgnoreCase));
        X509Certificate2? ca = options.TlsCaCertificatePath is { } caPath ? X509CertificateLoader.LoadCertificateFromFile(caPath) : null;
        X509Certificate2? clientCertificate = options.TlsClientCertificatePath is { } certPath
            ? X509Certificate2.CreateFromPemFile(certPath, options.TlsClientKeyPath)
            : null;

        return channel =>
        {
            var handler = new SocketsHttpHandler
            {
                // Pings notice a dead connection (a paused or unplugged server) even when no call is answering.
                KeepAlivePingDelay = TimeSpan.FromSeconds(5),
                KeepAlivePingTimeout = TimeSpan.FromSeconds(5),
                KeepAlivePingPolicy = HttpKeepAlivePingPolicy.Always,
                EnableMultipleHttp2Connections = true,
                ConnectTimeout = options.ConnectTimeout,
            };
            if (https)
            {
                channel.Credentials = ChannelCredentials.SecureSsl;
                handler.SslOptions = new SslClientAuthenticationOptions
                {
                    RemoteCertificateValidationCallback = (_, certificate, _, errors) => IsTrusted(certificate, errors, ca, hosts),
                };
                if (clientCertificate is not null)
                {
                    handler.SslOptions.ClientCertificates = new X509CertificateCollection { clientCertificate };
                }
            }

            channel.HttpHandler = handler;
            if (diagnostics is not null)
            {
                // Only a TLS handshake fails inside a request (a host DNS does not know fails in the connection layer,
                // which logs it): plain-text channels skip the observing handler and its state machine per request.
                if (https)
                {
                    channel.HttpHandler = diagnostics.Observe(handler);
                }

                channel.LoggerFactory = diagnostics;
            }
        };
    }

    /// <summary>
    /// The server's certificate must chain to <paramref name="ca"/> (or the system's roots when none is given) and name one
    /// of the configured endpoints' hosts. The host is checked here because the channel's own target name is one fixed host.
    /// </summary>
    private static bool IsTrusted(X509Certificate? certificate, SslPolicyErrors errors, X509Certificate2? ca, string[] hosts)
    {
        if (certificate is null)
        {
            return false;
        }

        var server = certificate as X509Certificate2 ?? X509CertificateLoader.LoadCertificate(certificate.GetRawCertData());
        if (ca is null)
        {
            if ((errors & ~SslPolicyErrors.RemoteCertificateNameMismatch) != SslPolicyErrors.None)
            {
                return false;
            }
        }
        else
        {
            using var chain = new X509Chain();
            chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
            chain.ChainPolicy.CustomTrustStore.Add(ca);
            chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
            if (!chain.Build(server))
            {
                return false;
            }
        }

        return hosts.Any(h => server.MatchesHostname(h));
    }
}
