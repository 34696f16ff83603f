using Google.Protobuf;

namespace AttributeLock.Benchmarks;

public sealed record PairedFigure(string Name, double[] CallMs)
{
    public double MedianMs => Stats.Percentile(CallMs, 50);

    public double P99Ms => Stats.Percentile(CallMs, 99);
}
