using System.Text.Json;
using System.Text.Json.Serialization;

namespace AttributeLock.Nemesis;

/// <summary>A client process killed by the driver (the nemesis's kill-client, or one that did not stop by itself).</summary>
internal sealed class KillRecord
{
    public int Pid { get; set; }
    public string Client { get; set; } = "";
    public long Wall { get; set; }
}
