using AttributeLock.Engine.Session;

namespace AttributeLock.Engine.Lock;

/// <summary>
/// What a lock hold needs from the session that made it: the connection its guarded reads and writes go through, the
/// key watch its renewals feed, where its loss is logged and counted, and its release (by its owner, or when its
/// handle was abandoned).
/// </summary>
internal interface ILockHoldHost
{
    /// <summary>The session's connection (guarded reads and writes).</summary>
    IEtcdCalls Calls { get; }

    /// <summary>Who holds a key through a local gate, for the timeout messages of callers of this process.</summary>
    string LocalHolder { get; }

    /// <summary>Whether a full key is a lock key this session holds now (guarded writes may not write it).</summary>
    bool IsLockKeyHere(string fullKey);

    /// <summary>A renewal of the hold's lease is being sent: its key is read (batched) and, from the first, watched.</summary>
    void OnRenewalDue(LockHold hold);

    /// <summary>The hold was lost: logged and counted. Runs on a signal thread, never on the lease machinery.</summary>
    void OnHoldLost(LockHold hold, string reason);

    /// <summary>A user callback registered on the hold's tokens threw.</summary>
    void OnLostCallbackFailed(LockHold hold, string what, Exception exception);

    /// <summary>The hold's handle was collected without being disposed: stop renewing, revoke, free the local gate.</summary>
    void OnAbandoned(LockHold hold);

    /// <summary>Releases the hold: stops keeping and watching it, revokes its lease, passes its gate on. Never throws.</summary>
    ValueTask ReleaseAsync(LockHold hold);
}
