namespace AttributeLock.Engine.Session;

/// <summary>The leases a session keeps, counted in one pass (<see cref="LeaseKeeper.Snapshot"/>).</summary>
/// <param name="Count">Every kept lease: holds', queued callers' pre-grants and spares.</param>
/// <param name="SpareIds">The ids of the kept leases that are spares (granted ahead, not handed to an acquire yet).</param>
internal readonly record struct KeptLeaseSnapshot(int Count, long[] SpareIds)
{
    /// <summary>How many kept leases are spares.</summary>
    public int Spares => SpareIds.Length;

    /// <summary>How many kept leases are not spares (held, being acquired, or pre-granted for a queued caller).</summary>
    public int NonSpares => Count - SpareIds.Length;
}
