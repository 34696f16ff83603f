using System.Diagnostics.Metrics;
using AttributeLock.EtcdFixture;

namespace AttributeLock.Benchmarks;

public sealed record HerdResult(int WaitersPerProcess, int Rounds, IReadOnlyList<HerdProcessResult> Processes, double EtcdTxnDelta)
{
    public long Acquisitions => Processes.Sum(p => p.Acquisitions);

    /// <summary>Hand-offs: every acquisition but the first (the key starts free).</summary>
    public long HandOffs => Math.Max(1, Acquisitions - 1);
}
