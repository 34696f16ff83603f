using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace AttributeLock.Nemesis;

/// <summary>Times shared by every process of the machine: CLOCK_MONOTONIC in ms, and wall-clock unix ms.</summary>
internal static class Clock
{
    public static double Mono => Stopwatch.GetTimestamp() * 1000.0 / Stopwatch.Frequency;

    public static long Wall => DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
}

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

/// <summary>A key as read: create and mod revision, lease (all 0 when the key is absent) and the read's revision.</summary>
internal sealed class KeyState
{
    public long CreateRev { get; set; }
    public long ModRev { get; set; }
    public long Lease { get; set; }
    public long Rev { get; set; }
}

/// <summary>
/// One nemesis action on an idle hold's key behind its holder's back: <c>delete</c>, <c>overwrite</c> (a put under a
/// foreign lease: same create revision, another lease) or <c>recreate</c> (delete, then a new key under a foreign
/// lease). Each transaction also puts a marker key, so etcd's history shows the action at its own revision.
/// </summary>
internal sealed class IdleAction
{
    public int FaultSeq { get; set; }
    public int Seq { get; set; }
    public string Kind { get; set; } = "";
    public string Key { get; set; } = "";
    /// <summary>The hold acted on (its create revision and lease, as read before the action).</summary>
    public long Token { get; set; }
    public long Lease { get; set; }
    public long ForeignLease { get; set; }
    public long StartWall { get; set; }
    /// <summary>When the (first) transaction's answer came, or when it was given up.</summary>
    public long EndWall { get; set; }
    /// <summary>The revision of the first transaction (the one that ends the hold); 0 unknown.</summary>
    public long Rev { get; set; }
    /// <summary>applied / skipped (the key had changed meanwhile) / error.</summary>
    public string Outcome { get; set; } = "";
    public string? Error { get; set; }
}

/// <summary>A sample taken by the driver every 500 ms: how many idle holds are alive in etcd, and the revision then.</summary>
internal sealed class Sample
{
    public long Wall { get; set; }
    public long Rev { get; set; }
    /// <summary>Idle keys held by a holder (not by a nemesis's foreign lease).</summary>
    public int Alive { get; set; }
    public int Foreign { get; set; }
}

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

/// <summary>A client process killed by the driver (the nemesis's kill-client, or one that did not stop by itself).</summary>
internal sealed class KillRecord
{
    public int Pid { get; set; }
    public string Client { get; set; } = "";
    public long Wall { get; set; }
}

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
}

internal static class Json
{
    public static readonly JsonSerializerOptions Options = new(JsonSerializerDefaults.Web)
    {
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };

    public static string Line<T>(T value) => JsonSerializer.Serialize(value, Options);

    public static IEnumerable<T> ReadLines<T>(string path)
    {
        foreach (string line in File.ReadLines(path))
        {
            if (line.Length == 0)
            {
                continue;
            }

            T? value;
            try
            {
                value = JsonSerializer.Deserialize<T>(line, Options);
            }
            catch (JsonException)
            {
                continue; // a line cut short by a SIGKILL
            }

            if (value is not null)
            {
                yield return value;
            }
        }
    }
}
