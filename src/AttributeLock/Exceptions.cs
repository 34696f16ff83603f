namespace AttributeLock;

/// <summary>The wait for a busy lock ended before the lock could be acquired.</summary>
public sealed class EtcdLockTimeoutException : TimeoutException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="key">The full key (prefix included).</param>
    /// <param name="holder">The value of the key when last seen: who held the lock.</param>
    /// <param name="waited">How long the caller waited.</param>
    public EtcdLockTimeoutException(string key, string? holder, TimeSpan waited)
        : base($"The lock '{key}' is held by {(string.IsNullOrEmpty(holder) ? "another holder" : $"'{holder}'")}; gave up after waiting {waited.TotalMilliseconds:F0} ms.")
    {
        Key = key;
        Holder = holder;
        Waited = waited;
    }

    /// <summary>The full key (prefix included).</summary>
    public string Key { get; }

    /// <summary>The value of the key when last seen: who held the lock.</summary>
    public string? Holder { get; }

    /// <summary>How long the caller waited.</summary>
    public TimeSpan Waited { get; }
}

/// <summary>etcd could not be reached, or refused a request of the lock protocol.</summary>
public sealed class EtcdLockUnavailableException : Exception
{
    /// <summary>Creates the exception.</summary>
    /// <param name="key">The full key (prefix included).</param>
    /// <param name="message">What failed.</param>
    /// <param name="innerException">The client's error.</param>
    public EtcdLockUnavailableException(string key, string message, Exception? innerException)
        : this(key, message, innerException, isTransient: true)
    {
    }

    /// <summary>Creates the exception.</summary>
    /// <param name="key">The full key (prefix included).</param>
    /// <param name="message">What failed.</param>
    /// <param name="innerException">The client's error.</param>
    /// <param name="isTransient">Whether a retry may succeed (see <see cref="IsTransient"/>).</param>
    public EtcdLockUnavailableException(string key, string message, Exception? innerException, bool isTransient)
        : base(message, innerException)
    {
        Key = key;
        IsTransient = isTransient;
    }

    /// <summary>The full key (prefix included).</summary>
    public string Key { get; }

    /// <summary>
    /// <c>true</c> when etcd could not be reached or did not answer in time (a retry may succeed); <c>false</c> when etcd
    /// refused the request for a reason that needs someone to act: permission denied, failed authentication, out of space
    /// (NOSPACE alarm), an invalid request.
    /// </summary>
    public bool IsTransient { get; }
}

/// <summary>
/// A guarded write (<see cref="EtcdLockHandle.WriteIfHeldAsync(System.Collections.Generic.IEnumerable{Etcdserverpb.RequestOp}, System.Threading.CancellationToken)"/>)
/// was refused by etcd because the hold no longer owns its key: nothing of the write was applied.
/// </summary>
public sealed class EtcdLockNotHeldException : Exception
{
    /// <summary>Creates the exception.</summary>
    /// <param name="key">The full lock key (prefix included).</param>
    /// <param name="fencingToken">The fencing token of the hold that tried to write.</param>
    /// <param name="currentHolder">The key's value when the write was refused (who holds it now), or <c>null</c> when the key did not exist.</param>
    /// <param name="currentFencingToken">The key's create revision when the write was refused, or <c>null</c> when the key did not exist.</param>
    public EtcdLockNotHeldException(string key, long fencingToken, string? currentHolder, long? currentFencingToken)
        : base($"The write guarded by lock '{key}' (fencing token {fencingToken}) was refused: " +
               (currentFencingToken is null
                   ? "the key no longer exists."
                   : currentFencingToken == fencingToken
                       ? $"the key was overwritten in place by another writer (value now '{currentHolder}') and is no longer attached to this hold's lease."
                       : $"the key is now held by '{currentHolder}' with fencing token {currentFencingToken}.") +
               " Nothing was written.")
    {
        Key = key;
        FencingToken = fencingToken;
        CurrentHolder = currentHolder;
        CurrentFencingToken = currentFencingToken;
    }

    /// <summary>The full lock key (prefix included).</summary>
    public string Key { get; }

    /// <summary>The fencing token of the hold whose write was refused.</summary>
    public long FencingToken { get; }

    /// <summary>Who held the key when the write was refused (its value), or <c>null</c> when the key did not exist.</summary>
    public string? CurrentHolder { get; }

    /// <summary>The key's create revision when the write was refused, or <c>null</c> when the key did not exist.</summary>
    public long? CurrentFencingToken { get; }
}

/// <summary>
/// The body of a generated <see cref="EtcdLockAttribute"/> wrapper was cancelled because its hold was lost (the lease
/// expired or was revoked, the key was deleted or overwritten behind the holder's back, or the provider was disposed),
/// not because the caller cancelled. Another holder may have the lock now; what the body did may be incomplete.
/// </summary>
/// <remarks>
/// It derives from <see cref="OperationCanceledException"/>, as the bare cancellation it replaces did, so existing
/// <c>catch (OperationCanceledException)</c> blocks, cancelled-task handling (the returned task is Canceled, not
/// Faulted) and hosting code that stops on cancellation keep working; catch it first to tell a lost lock from a
/// cancelled call. Its <see cref="OperationCanceledException.CancellationToken"/> is the hold's
/// <see cref="EtcdLockHandle.LostToken"/>, never the caller's token: a check such as
/// <c>when (e.CancellationToken == callerToken)</c> does not mistake it for the caller's own cancellation. The
/// cancellation the body observed is the <see cref="Exception.InnerException"/>. When the caller's token was cancelled
/// too, the caller's cancellation wins and a plain <see cref="OperationCanceledException"/> carrying the caller's token
/// is thrown instead.
/// </remarks>
public sealed class EtcdLockLostException : OperationCanceledException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="key">The full lock key (prefix included).</param>
    /// <param name="fencingToken">The fencing token of the hold that was lost.</param>
    /// <param name="reason">Why the hold was lost, or <c>null</c> when that is not known.</param>
    /// <param name="innerException">The cancellation the body observed.</param>
    /// <param name="lostToken">The hold's <see cref="EtcdLockHandle.LostToken"/>.</param>
    public EtcdLockLostException(string key, long fencingToken, string? reason, Exception? innerException, CancellationToken lostToken)
        : base(
            $"The lock '{key}' (fencing token {fencingToken}) was lost while its body ran" +
            (string.IsNullOrEmpty(reason) ? "" : $" ({reason})") +
            "; the body was cancelled and another holder may have the lock now.",
            innerException,
            lostToken)
    {
        Key = key;
        FencingToken = fencingToken;
        Reason = reason;
    }

    /// <summary>The full lock key (prefix included).</summary>
    public string Key { get; }

    /// <summary>The fencing token of the hold that was lost.</summary>
    public long FencingToken { get; }

    /// <summary>Why the hold was lost (lease expired, revoked, key deleted, provider disposed, ...), or <c>null</c> when not known.</summary>
    public string? Reason { get; }
}
