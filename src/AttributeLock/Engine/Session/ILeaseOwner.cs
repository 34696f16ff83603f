namespace AttributeLock.Engine.Session;

/// <summary>What a lease tells the hold it carries.</summary>
internal interface ILeaseOwner
{
    /// <summary>The lease is lost. Must not run user code inline.</summary>
    void OnLeaseLost(string reason);

    /// <summary>A renewal is being sent (the first one is the moment to start watching the key).</summary>
    void OnRenewalDue();
}
