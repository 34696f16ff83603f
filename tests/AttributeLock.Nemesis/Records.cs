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
    public double StartMono { get; set; }
    public long StartWall { get; set; }
    public double EndMono { get; set; }
    public long EndWall { get; set; }
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
