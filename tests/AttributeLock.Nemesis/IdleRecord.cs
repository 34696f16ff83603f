using System.Text.Json;
using System.Text.Json.Serialization;

namespace AttributeLock.Nemesis;

/// <summary>
/// One line of an idle holder's history (the <c>idle</c> role): <c>acquired</c> when a long-lived hold begins (written at
/// once, so a killed process leaves it behind), <c>ended</c> when it is reported lost or released at the end.
/// </summary>
internal sealed class IdleRecord
{
    /// <summary>acquired / lost (written from the LostToken callback, at once) / ended.</summary>
    public string Kind { get; set; } = "";
    public string Client { get; set; } = "";
    public int Slot { get; set; }
    public int Pid { get; set; }
    /// <summary>The full lock key, e.g. /nemesis/idle/idle.0/17.</summary>
    public string Key { get; set; } = "";
    public long Token { get; set; }
    public long Lease { get; set; }
    public long AcquiredWall { get; set; }
    /// <summary>ended: lost (LostToken fired while holding) / released (the run's end).</summary>
    public string? How { get; set; }
    public bool LostFired { get; set; }
    public long? LostWall { get; set; }
    /// <summary>handle.IsLost just before the release.</summary>
    public bool? LostAtCheck { get; set; }
    /// <summary>Before a release: a linearizable read of the key (null: the read failed).</summary>
    public KeyState? KeyAtEnd { get; set; }
    public long EndWall { get; set; }
}
