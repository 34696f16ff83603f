namespace AttributeLock.Engine.Session;

/// <summary>
/// Leases for every primitive: granted (with retries, a retried grant recognised and adopted, spares granted ahead
/// of need) and kept from the send time of the grant on, and revoked so that nothing is left behind, whatever etcd
/// answered or failed to.
/// </summary>
internal interface ILeaseGrants
{
    /// <summary>
    /// Grants a lease with an id we choose, so that a grant whose outcome we do not know (cancelled, timed out, answer
    /// lost) can still be revoked: nothing is left behind even then. The lease is kept (renewed, its deadline watched)
    /// from the send time of the grant on.
    /// </summary>
    /// <param name="fullKey">The key it is for, for the log.</param>
    /// <param name="ttlSeconds">The TTL asked for.</param>
    /// <param name="spare">Granted for the spare pool: counted as a spare until a take hands it out.</param>
    /// <param name="token">Cancels the grant (its id is then revoked in the background).</param>
    /// <param name="deadline">The request's deadline when shared with others (an acquire's first attempt); else one request timeout from now.</param>
    ValueTask<KeptLease> GrantAsync(string fullKey, int ttlSeconds, bool spare, CancellationToken token, DateTime? deadline = null);

    /// <summary>
    /// Takes the spare lease for <paramref name="ttlSeconds"/> if there is a usable one, and starts a refill in the
    /// background. Never waits for etcd.
    /// </summary>
    /// <returns>A kept lease with more than half its TTL left that no one else has or will get; <c>null</c>: grant one.</returns>
    KeptLease? TryTakeSpare(int ttlSeconds);

    /// <summary>
    /// Sends the revoke of a lease the caller waits for (a release), which passes how it ended to
    /// <see cref="RevokeEnded"/>. Two calls, not one async method: the release awaits the request in its own state
    /// machine (one less per lock call). The revoke takes one of the session's revoke slots
    /// (<see cref="EngineSettings.MaxRevokesInFlight"/>), waiting for one if need be, and holds it until
    /// <see cref="RevokeEnded"/>, which must follow every call, whether the task failed or not.
    /// </summary>
    Task SendRevokeAsync(long leaseId);

    /// <summary>
    /// How a revoke sent with <see cref="SendRevokeAsync"/> ended (<paramref name="failure"/> null: etcd confirmed it). A
    /// lease already gone counts as revoked; a failure is warned about (once per outage) and the revoke retried in the
    /// background until the TTL has passed. Never throws.
    /// </summary>
    void RevokeEnded(string fullKey, long leaseId, int ttlSeconds, Exception? failure);

    /// <summary>Stops keeping <paramref name="lease"/> and revokes it, the caller waiting; a failure is only logged.</summary>
    /// <returns>Whether etcd confirmed the lease is gone (revoked now, or already).</returns>
    ValueTask<bool> RevokeQuietlyAsync(string fullKey, KeptLease lease);

    /// <summary>
    /// Revokes a lease behind the caller's back, retrying every half second until etcd confirms (or says it is gone) or
    /// the lease's TTL has passed (then it expired anyway). Dispose waits for these like for acquires in progress.
    /// </summary>
    /// <param name="fullKey">The key, for the log.</param>
    /// <param name="leaseId">The lease.</param>
    /// <param name="ttlSeconds">Its TTL.</param>
    /// <param name="uncertainGrant">
    /// The lease's grant was sent but never confirmed (cancelled, timed out): etcd may still apply it after answering a
    /// revoke with NotFound (the two requests are handled concurrently), so NotFound counts only when a second revoke a
    /// second later says it too.
    /// </param>
    /// <param name="warned">The caller already logged a failed revoke of this lease: the retries log only at Debug.</param>
    void RevokeInBackground(string fullKey, long leaseId, int ttlSeconds, bool uncertainGrant = false, bool warned = false);

    /// <summary>
    /// Revokes a lease whose grant is still in flight, once it is granted (a grant that fails revokes its own id).
    /// Counted as in flight from now on, so dispose cannot close the connection before the revoke went out.
    /// </summary>
    void RevokeWhenGrantedInBackground(string fullKey, Task<KeptLease> granting);

    /// <summary>
    /// Dispose began (the session is marked disposed, its work not yet drained): revokes every pooled spare (counted in
    /// flight) and makes refills still in flight revoke what they grant.
    /// </summary>
    void DisposeSpares();
}
