namespace AttributeLock.Engine;

/// <summary>Where a hold is in its life.</summary>
internal enum HoldState
{
    /// <summary>Acquired and, as far as this process can tell, still ours.</summary>
    Held,

    /// <summary>The lease was lost, the key was deleted or overwritten, or the provider went away. The owner must still release.</summary>
    Lost,

    /// <summary>Released by its owner (or abandoned and released for it). Final.</summary>
    Released,
}
