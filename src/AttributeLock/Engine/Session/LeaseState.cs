namespace AttributeLock.Engine.Session;

/// <summary>Where a kept lease is in its life.</summary>
internal enum LeaseState
{
    /// <summary>Renewed by the keeper; its deadline is watched.</summary>
    Kept,

    /// <summary>The deadline passed or etcd said the lease is gone. Final.</summary>
    Lost,

    /// <summary>Given up on purpose (released or about to be revoked): never reported lost. Final.</summary>
    Retired,
}
