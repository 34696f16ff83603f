using System.Text.Json;
using System.Text.Json.Serialization;

namespace AttributeLock.Nemesis;

/// <summary>One injected fault.</summary>
internal sealed class FaultRecord
{
    public int Seq { get; set; }
    public string Kind { get; set; } = "";
    /// <summary>The client slot affected, or -1.</summary>
    public int Slot { get; set; } = -1;
    /// <summary>The etcd member affected, or -1.</summary>
    public int Member { get; set; } = -1;
    public bool Leader { get; set; }
    public string Detail { get; set; } = "";
    /// <summary>compact, takeover-idle, reset-watch-streams: the idle holds alive in etcd then.</summary>
    public int? IdleAlive { get; set; }
    public double StartMono { get; set; }
    public long StartWall { get; set; }
    public double EndMono { get; set; }
    public long EndWall { get; set; }
}
