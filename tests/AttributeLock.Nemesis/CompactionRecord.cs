using System.Text.Json;
using System.Text.Json.Serialization;

namespace AttributeLock.Nemesis;

/// <summary>A compaction by the nemesis (at a revision up to which etcd's history had been dumped first).</summary>
internal sealed class CompactionRecord
{
    public int FaultSeq { get; set; }
    public long Rev { get; set; }
    public long StartWall { get; set; }
    public long EndWall { get; set; }
    public bool Ok { get; set; }
    public string? Error { get; set; }
}
