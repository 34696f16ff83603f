namespace AttributeLock.Nemesis;

/// <summary>
/// One operation of a queue role (<see cref="QueueRoles"/>): a semaphore ticket's marker write, a reader's marker
/// write, a writer's increment, or one increment of an election's leader. One JSON line of a client's qops-*.jsonl.
/// </summary>
internal sealed class QueueOpRecord
{
    /// <summary>sem / read / write / leader.</summary>
    public string Role { get; set; } = "";
    public string Client { get; set; } = "";
    public int Slot { get; set; }
    public int Pid { get; set; }
    public int Caller { get; set; }
    public string Op { get; set; } = "";
    /// <summary>The primitive's name (s0, rw0, e0), without its prefix.</summary>
    public string Key { get; set; } = "";
    public bool Guarded { get; set; }
    /// <summary>The ticket's create revision (the handle's fencing token).</summary>
    public long? Token { get; set; }
    /// <summary>The ticket's key in etcd.</summary>
    public string? Ticket { get; set; }
    public double StartMono { get; set; }
    public long StartWall { get; set; }
    public double? AcquiredMono { get; set; }
    /// <summary>Just before the write was sent.</summary>
    public double? WriteMono { get; set; }
    public double EndMono { get; set; }
    public long EndWall { get; set; }
    public long? Read { get; set; }
    public long? Written { get; set; }
    public long? WriteRev { get; set; }
    /// <summary>The write's answer came back at (with <see cref="WriteMono"/>: the write's revision's time, bracketed).</summary>
    public double? WroteMono { get; set; }
    /// <summary>As the write's transaction saw it (a Range of the primitive's tickets in its success branch): live
    /// tickets older than ours that block ours (all tickets for a semaphore, writers for a reader, all for a writer and
    /// a candidate).</summary>
    public int? OlderAtWrite { get; set; }
    /// <summary>Whether our own ticket was in that Range.</summary>
    public bool? OwnAtWrite { get; set; }
    /// <summary>applied / refused / timeout / unavailable / lost-signalled.</summary>
    public string Outcome { get; set; } = "";
    public string? Stage { get; set; }
    public string? Error { get; set; }
    public bool? LostBeforeWrite { get; set; }
    public bool LostFired { get; set; }
    public double? LostMono { get; set; }
    public bool? LostAtCheck { get; set; }
    /// <summary>The ticket's create revision read (linearizably) just before the release (or, for a leader, after the
    /// write): 0 gone, null unknown.</summary>
    public long? KeyAtRelease { get; set; }
}

/// <summary>One term of a leader (<see cref="EtcdLeadership.RunAsync"/>'s body), written when the body ends.</summary>
internal sealed class TermRecord
{
    public string Client { get; set; } = "";
    public int Slot { get; set; }
    public int Pid { get; set; }
    public string Key { get; set; } = "";
    public long Token { get; set; }
    public string Ticket { get; set; } = "";
    public double StartMono { get; set; }
    public long StartWall { get; set; }
    public double EndMono { get; set; }
    public int Ops { get; set; }
    /// <summary>The leadership's LostToken fired (not the stop).</summary>
    public bool LostFired { get; set; }
    public double? LostMono { get; set; }
    /// <summary>lost / stopped.</summary>
    public string End { get; set; } = "";
}
