using System.Diagnostics;
using System.Text.Json.Serialization;

namespace AttributeLock.Nemesis;

/// <summary>Times shared by every process of the machine: CLOCK_MONOTONIC in ms, and wall-clock unix ms.</summary>
internal static class Clock
{
    public static double Mono => Stopwatch.GetTimestamp() * 1000.0 / Stopwatch.Frequency;

    public static long Wall => DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
}
