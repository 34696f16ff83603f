using System.Net.Sockets;
using System.Security.Authentication;
using Grpc.Core;

namespace AttributeLock.Engine;

/// <summary>Turns what the gRPC client throws into the library's exceptions: no gRPC type reaches a caller.</summary>
internal static class EtcdErrors
{
    public static bool IsLeaseNotFound(Exception ex) => ex is RpcException { StatusCode: StatusCode.NotFound };

    /// <summary>etcd refused to grant a lease because one with the requested id exists (not ours).</summary>
    public static bool IsLeaseExists(RpcException ex) =>
        ex.StatusCode == StatusCode.FailedPrecondition && ex.Status.Detail.Contains("lease already exists", StringComparison.OrdinalIgnoreCase);

    /// <summary>etcd answered and refused: the request was certainly not applied.</summary>
    public static bool IsDefiniteRefusal(Exception ex) => ex is RpcException rpc && IsPermanent(rpc);

    /// <summary>
    /// Permanent errors need someone to act (grant a role, fix credentials, free space, fix the request); retrying the
    /// same call will not help. Everything else (unreachable, timed out, leader change, overload) is transient.
    /// </summary>
    public static bool IsPermanent(RpcException ex) => ex.StatusCode switch
    {
        StatusCode.PermissionDenied or StatusCode.Unauthenticated or StatusCode.InvalidArgument
            or StatusCode.FailedPrecondition or StatusCode.OutOfRange or StatusCode.Unimplemented => true,
        // NOSPACE ("database space exceeded") is permanent until an operator acts; "too many requests" is not.
        StatusCode.ResourceExhausted => ex.Status.Detail.Contains("space", StringComparison.OrdinalIgnoreCase),
        _ => false,
    };

    /// <summary>
    /// A mistake in the configuration, found while connecting, that only someone can fix: a TLS handshake that failed
    /// (a scheme that does not match etcd's: https:// against a plain-text etcd; a CA that did not sign etcd's
    /// certificate; a certificate that does not name the host) or a host name that DNS does not know. gRPC reports these
    /// as Unavailable, like an etcd that is down; the cause is in the exception chain.
    /// </summary>
    /// <returns>What to check, or null when the failure is not one of these.</returns>
    /// <remarks>
    /// Not a definite refusal (<see cref="IsDefiniteRefusal"/>): with several endpoints or the client's retries, an
    /// earlier attempt of the same request may have reached another member, so what it may have created is still undone.
    /// </remarks>
    public static string? ConfigurationProblem(Exception ex)
    {
        bool temporaryDns = false;
        bool unknownHost = false;
        for (Exception? e = ex; e is not null; e = e is RpcException rpc ? rpc.Status.DebugException ?? rpc.InnerException : e.InnerException)
        {
            switch (e)
            {
                // A plain-text etcd closes the connection at the ClientHello (an EOF, no AuthenticationException); a
                // certificate the validation rejects is an AuthenticationException. Both are SecureConnectionError.
                case AuthenticationException:
                case HttpRequestException { HttpRequestError: HttpRequestError.SecureConnectionError }:
                    return "the TLS handshake failed. Check that the endpoint's scheme matches etcd's (https:// against a plain-text etcd, " +
                        "or a CA path that makes the connection use TLS, fails here), that TlsCaCertificatePath is the CA that signed etcd's " +
                        "server certificate, that the certificate names the endpoint's host, and the client certificate if etcd asks for one";
                case SocketException { SocketErrorCode: SocketError.HostNotFound }:
                    unknownHost = true;
                    break;
                case SocketException { SocketErrorCode: SocketError.TryAgain or SocketError.NoRecovery }:
                    temporaryDns = true;
                    break;
                case HttpRequestException { HttpRequestError: HttpRequestError.NameResolutionError }:
                    unknownHost = true;
                    break;
            }
        }

        return unknownHost && !temporaryDns
            ? "the endpoint's host name is not known to DNS. Check the host names in Endpoints (and the DNS or hosts file of this machine)"
            : null;
    }

    /// <summary>A failure that a later attempt may not meet: etcd unreachable, slow, electing, overloaded.</summary>
    public static bool IsTransientFailure(Exception ex) => ex switch
    {
        RpcException rpc => !IsPermanent(rpc) && rpc.StatusCode != StatusCode.NotFound && ConfigurationProblem(rpc) is null,
        EtcdLockUnavailableException unavailable => unavailable.IsTransient,
        OperationCanceledException => true, // a request timeout; the caller's own token is checked before this is asked
        _ => false,
    };

    // metWhileConnecting: a configuration mistake the channel met while connecting just now; a request that ran out of
    // time during the client's retries (DeadlineExceeded) carries no cause of its own.
    public static EtcdLockUnavailableException Map(string endpoints, TimeSpan timeout, string fullKey, string what, Exception ex, Exception? metWhileConnecting = null)
    {
        if (ex is RpcException rpc && IsPermanent(rpc))
        {
            return new EtcdLockUnavailableException(
                fullKey,
                $"etcd ({endpoints}) refused {what} for lock '{fullKey}' ({Describe(rpc)}); this will not succeed on retry until the cause is fixed: {rpc.StatusCode}: {rpc.Status.Detail}",
                ex,
                isTransient: false);
        }

        string? problem = ConfigurationProblem(ex);
        if (problem is null && metWhileConnecting is not null
            && ex is RpcException { StatusCode: StatusCode.DeadlineExceeded or StatusCode.Unavailable } or OperationCanceledException)
        {
            problem = ConfigurationProblem(metWhileConnecting);
            ex = new AggregateException(ex, metWhileConnecting);
        }

        if (problem is not null)
        {
            Exception last = ex is AggregateException both ? both.InnerExceptions[1] : ex;
            string cause = Brief(last);
            return new EtcdLockUnavailableException(
                fullKey,
                $"etcd ({endpoints}) could not be reached for {what} for lock '{fullKey}': {problem}. This will not succeed on retry until the configuration is fixed: {cause}",
                ex,
                isTransient: false);
        }

        string detail = ex is RpcException r ? $"{r.StatusCode}: {r.Status.Detail}" : $"no answer in time ({ex.GetType().Name})";
        return new EtcdLockUnavailableException(
            fullKey,
            $"etcd ({endpoints}) failed {what} for lock '{fullKey}' (timeout per request {timeout.TotalSeconds:0.#} s); a retry may succeed: {detail}",
            ex,
            isTransient: true);
    }

    /// <summary>A failure in one line: a gRPC status and its detail, or an exception's type and message.</summary>
    public static string Brief(Exception ex) => ex is RpcException rpc ? $"{rpc.StatusCode}: {rpc.Status.Detail}" : $"{ex.GetType().Name}: {ex.Message}";

    private static string Describe(RpcException ex) => ex.StatusCode switch
    {
        StatusCode.PermissionDenied => "permission denied: the user's role does not cover this key or lease operation",
        StatusCode.Unauthenticated => "authentication failed: check the user name and password",
        StatusCode.ResourceExhausted => "etcd is out of space (NOSPACE alarm): an operator must compact, defragment and disarm",
        _ => "the request was refused",
    };
}
