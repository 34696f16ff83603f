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

    /// <summary>A failure that a later attempt may not meet: etcd unreachable, slow, electing, overloaded.</summary>
    public static bool IsTransientFailure(Exception ex) => ex switch
    {
        RpcException rpc => !IsPermanent(rpc) && rpc.StatusCode != StatusCode.NotFound,
        EtcdLockUnavailableException unavailable => unavailable.IsTransient,
        OperationCanceledException => true, // a request timeout; the caller's own token is checked before this is asked
        _ => false,
    };

    public static EtcdLockUnavailableException Map(string endpoints, TimeSpan timeout, string fullKey, string what, Exception ex)
    {
        if (ex is RpcException rpc && IsPermanent(rpc))
        {
            return new EtcdLockUnavailableException(
                fullKey,
                $"etcd ({endpoints}) refused {what} for lock '{fullKey}' ({Describe(rpc)}); this will not succeed on retry until the cause is fixed: {rpc.StatusCode}: {rpc.Status.Detail}",
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

    private static string Describe(RpcException ex) => ex.StatusCode switch
    {
        StatusCode.PermissionDenied => "permission denied: the user's role does not cover this key or lease operation",
        StatusCode.Unauthenticated => "authentication failed: check the user name and password",
        StatusCode.ResourceExhausted => "etcd is out of space (NOSPACE alarm): an operator must compact, defragment and disarm",
        _ => "the request was refused",
    };
}
