using Google.Protobuf;

namespace AttributeLock.Benchmarks;

public sealed record RunResult(string Name, int Callers, int Keys, long Calls, double Seconds, double[] HandOffsMs, int MaxInside, double ClientCpuMs, double EtcdCpuMs, int MaxLeases)
{
    /// <summary>CPU time this (client) process spent per call during the window, all threads.</summary>
    public double ClientCpuMsPerCall => ClientCpuMs / Math.Max(1, Calls);

    /// <summary>CPU time the etcd process spent per call during the window (NaN when etcd is not ours).</summary>
    public double EtcdCpuMsPerCall => EtcdCpuMs / Math.Max(1, Calls);

    public double Throughput => Calls / Seconds;

    public double? HandOffP50 => HandOffsMs.Length == 0 ? null : Stats.Percentile(HandOffsMs, 50);

    public double? HandOffP99 => HandOffsMs.Length == 0 ? null : Stats.Percentile(HandOffsMs, 99);
}
