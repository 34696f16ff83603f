using System.Text.Json;
using System.Text.Json.Serialization;

namespace AttributeLock.Nemesis;

/// <summary>A key as read: create and mod revision, lease (all 0 when the key is absent) and the read's revision.</summary>
internal sealed class KeyState
{
    public long CreateRev { get; set; }
    public long ModRev { get; set; }
    public long Lease { get; set; }
    public long Rev { get; set; }
}
