using System.Text.Json;
using System.Text.Json.Serialization;

namespace AttributeLock.Nemesis;

/// <summary>One guarded (or, in the control, plain) read-modify-write increment: one JSON line of a client's history.</summary>
internal sealed class OpRecord
{
    public string Client { get; set; } = "";
    public int Slot { get; set; }
    public int Pid { get; set; }
    public int Caller { get; set; }
    public string Op { get; set; } = "";
    public string Key { get; set; } = "";
    public bool Guarded { get; set; }
    public long? Token { get; set; }
    public double StartMono { get; set; }
    public long StartWall { get; set; }
    public double? AcquiredMono { get; set; }
    public double EndMono { get; set; }
    public long EndWall { get; set; }
    public long? Read { get; set; }
    public long? Written { get; set; }
    public long? WriteRev { get; set; }
    /// <summary>The lock key's create revision as the guarded transaction saw it (a Range in its success branch).</summary>
    public long? LockRevAtWrite { get; set; }
    /// <summary>applied / refused / timeout / unavailable / lost-signalled.</summary>
    public string Outcome { get; set; } = "";
    /// <summary>acquire / read / write: where a non-applied operation stopped.</summary>
    public string? Stage { get; set; }
    public string? Error { get; set; }
    /// <summary>handle.IsLost when the write was sent (the write was attempted anyway).</summary>
    public bool? LostBeforeWrite { get; set; }
    public bool LostFired { get; set; }
    public double? LostMono { get; set; }
    public long? LostWall { get; set; }
    /// <summary>handle.IsLost just before the release.</summary>
    public bool? LostAtCheck { get; set; }
    /// <summary>The lock key's create revision read (linearizably) just before the release: 0 gone, null unknown.</summary>
    public long? KeyAtRelease { get; set; }
}
