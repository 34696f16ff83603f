using System.Text.Json;
using System.Text.Json.Serialization;

namespace AttributeLock.Nemesis;

/// <summary>A sample taken by the driver every 500 ms: how many idle holds are alive in etcd, and the revision then.</summary>
internal sealed class Sample
{
    public long Wall { get; set; }
    public long Rev { get; set; }
    /// <summary>Idle keys held by a holder (not by a nemesis's foreign lease).</summary>
    public int Alive { get; set; }
    public int Foreign { get; set; }
}
