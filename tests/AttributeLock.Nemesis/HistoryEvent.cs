using System.Text.Json;
using System.Text.Json.Serialization;

namespace AttributeLock.Nemesis;

/// <summary>One event of etcd's history (every key, from revision 1), dumped after the run.</summary>
internal sealed class HistoryEvent
{
    public long Rev { get; set; }
    public string Type { get; set; } = "";
    public string Key { get; set; } = "";
    public string Value { get; set; } = "";
    public long CreateRev { get; set; }
    public long Lease { get; set; }
}
