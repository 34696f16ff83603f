using System.Text.Json;
using System.Text.Json.Serialization;

namespace AttributeLock.Nemesis;

/// <summary>The parameters of a run, for the checker.</summary>
internal sealed class RunInfo
{
    public int Seed { get; set; }
    public double Minutes { get; set; }
    public bool Guarded { get; set; }
    public int Ttl { get; set; }
    public int Clients { get; set; }
    public int Callers { get; set; }
    public List<string> Keys { get; set; } = [];
    public string FairKey { get; set; } = "";
    public double FaultPhaseSeconds { get; set; }
    public double FairnessPhaseSeconds { get; set; }
    public double FairnessMinShare { get; set; }
    public string LockPrefix { get; set; } = "";
    public string CounterPrefix { get; set; } = "";
    /// <summary>Where idle holders hold their keys (empty in runs before idle holds existed).</summary>
    public string IdlePrefix { get; set; } = "";
    public string MarkerPrefix { get; set; } = "";
    public int IdleHolds { get; set; }
    public int IdleTtl { get; set; }
    /// <summary>An idle hold's loss (the event in etcd) must be signalled within this many seconds.</summary>
    public double IdleSignalBoundSeconds { get; set; }
    /// <summary>The wall times of the fault phase (unix ms).</summary>
    public long FaultStartWall { get; set; }
    public long FaultEndWall { get; set; }
    /// <summary>The queue roles in each client process of the fault phase (0 in runs before them).</summary>
    public int SemCallers { get; set; }
    public int RwCallers { get; set; }
    /// <summary>Leader candidates (one per client process), 0 when none ran.</summary>
    public int Leaders { get; set; }
    public int SemMax { get; set; }
    public string SemPrefix { get; set; } = "";
    public string SemMarkPrefix { get; set; } = "";
    public string RwPrefix { get; set; } = "";
    public string RwCountPrefix { get; set; } = "";
    public string RwMarkPrefix { get; set; } = "";
    public string ElectionPrefix { get; set; } = "";
    public string LeaderCountPrefix { get; set; } = "";
}
