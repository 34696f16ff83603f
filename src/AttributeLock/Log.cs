using Microsoft.Extensions.Logging;

namespace AttributeLock;

internal static partial class Log
{
    [LoggerMessage(1, LogLevel.Debug, "Acquired lock {Key} (lease {LeaseId}, fencing token {FencingToken}) after {ElapsedMs:F1} ms")]
    public static partial void Acquired(ILogger logger, string key, long leaseId, long fencingToken, double elapsedMs);

    [LoggerMessage(2, LogLevel.Debug, "Released lock {Key} (lease {LeaseId}) after holding it {HeldMs:F1} ms")]
    public static partial void Released(ILogger logger, string key, long leaseId, double heldMs);

    [LoggerMessage(3, LogLevel.Error, "Lost lock {Key} (lease {LeaseId}, fencing token {FencingToken}): {Reason}. Another holder may now have it.")]
    public static partial void Lost(ILogger logger, string key, long leaseId, long fencingToken, string reason);

    [LoggerMessage(4, LogLevel.Warning, "Could not revoke lease {LeaseId} of lock {Key} ({Reason}); it is retried in the background, and the lock frees itself when the lease's TTL runs out at the latest. Further revoke failures are logged at Debug until etcd answers again")]
    public static partial void RevokeFailed(ILogger logger, string key, long leaseId, string reason);

    [LoggerMessage(15, LogLevel.Debug, "Revoking lease {LeaseId} of lock {Key} failed again ({Reason}); retrying until the lease's TTL has passed")]
    public static partial void RevokeRetryFailed(ILogger logger, string key, long leaseId, string reason);

    [LoggerMessage(5, LogLevel.Debug, "Lock {Key} is held by {Holder}; waiting for its release")]
    public static partial void Waiting(ILogger logger, string key, string holder);

    [LoggerMessage(6, LogLevel.Information, "Lock {Key}: recognised our own holder value in a transaction answered as busy (a retried request); the lock is ours")]
    public static partial void RecoveredRetriedTransaction(ILogger logger, string key);

    [LoggerMessage(7, LogLevel.Warning, "A lease keep-alive stream failed ({Reason}); its {Pending} unanswered renewals are sent again on another stream while their leases' deadlines have not passed. Further stream failures in the next 10 s are logged at Debug")]
    public static partial void KeepAliveStreamFailed(ILogger logger, string reason, int pending);

    [LoggerMessage(20, LogLevel.Debug, "A lease keep-alive stream failed again ({Reason}); {Pending} unanswered renewals are sent again")]
    public static partial void KeepAliveStreamFailedAgain(ILogger logger, string reason, int pending);

    [LoggerMessage(8, LogLevel.Debug, "Watch on lock {Key} ended ({Reason}); re-checking with the transaction")]
    public static partial void WatchEnded(ILogger logger, string key, string reason);

    [LoggerMessage(10, LogLevel.Warning, "The key watch stream ended ({Reason}); re-opening it")]
    public static partial void KeyWatchStreamEnded(ILogger logger, string reason);

    [LoggerMessage(11, LogLevel.Warning, "The handle of lock {Key} (lease {LeaseId}, fencing token {FencingToken}) was garbage-collected without being disposed; releasing the lock. Dispose lock handles (await using).")]
    public static partial void Abandoned(ILogger logger, string key, long leaseId, long fencingToken);

    [LoggerMessage(12, LogLevel.Error, "A callback registered on {What} of lock {Key} threw; it ran on a signal thread of its own and the other holds are not affected")]
    public static partial void LostCallbackFailed(ILogger logger, Exception exception, string key, string what);

    [LoggerMessage(13, LogLevel.Warning, "Waiting for lock {Key}: etcd failed {Step} ({Reason}); retrying in {DelayMs} ms while the wait lasts")]
    public static partial void WaitRetrying(ILogger logger, string key, string step, string reason, int delayMs);

    [LoggerMessage(14, LogLevel.Debug, "Granting a spare lease of {TtlSeconds} s failed ({Reason}); the next acquire grants its own")]
    public static partial void SpareGrantFailed(ILogger logger, int ttlSeconds, string reason);

    [LoggerMessage(16, LogLevel.Warning, "Lock {Key} (fencing token {FencingToken}) had been overwritten in place by another writer; its release deleted the key if still that incarnation: {Deleted}")]
    public static partial void OverwrittenKeyDeleted(ILogger logger, string key, long fencingToken, bool deleted);

    [LoggerMessage(17, LogLevel.Debug, "Reading {Count} held keys failed ({Reason}); they are read again at their next renewal, and each lease's deadline is watched meanwhile")]
    public static partial void HeldKeyReadFailed(ILogger logger, int count, string reason);

    [LoggerMessage(18, LogLevel.Debug, "Revoking lease {LeaseId} (for {Key}), whose grant got no answer, failed ({Reason}); retried in the background in case the grant committed")]
    public static partial void UncertainGrantRevokeFailed(ILogger logger, string key, long leaseId, string reason);

    [LoggerMessage(19, LogLevel.Information, "etcd answers again after {Seconds:F1} s of failed lease revokes ({QuietFailures} further failures were logged at Debug)")]
    public static partial void EtcdAnswersAgain(ILogger logger, double seconds, int quietFailures);

    [LoggerMessage(21, LogLevel.Debug, "Lock {Key} (fencing token {FencingToken}) released before its minimum hold: the key stays on lease {LeaseId} of {TtlSeconds} s, which nobody renews ({RemainingMs:F0} ms were left)")]
    public static partial void KeptForMinimum(ILogger logger, string key, long fencingToken, long leaseId, long ttlSeconds, double remainingMs);

    [LoggerMessage(22, LogLevel.Warning, "Lock {Key} (fencing token {FencingToken}) was released before its minimum hold but could not be kept taken ({Reason}); it is released at once")]
    public static partial void MinimumHoldFailed(ILogger logger, string key, long fencingToken, string reason);
}
