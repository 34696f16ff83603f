using System.Diagnostics;
using System.Reflection;
using System.Text;
using AttributeLock.Generators;
using Microsoft.CodeAnalysis;

namespace AttributeLock.Benchmarks;

/// <summary>One generator's figures over the measured rounds (one value per round).</summary>
public sealed record GeneratorSeries(string Name, double ColdMs, double[] FullMs, double[] EditedMs, double[] NoEditMs, long[] FullAllocatedBytes, long[] FullAllocatedBytesAllThreads, int GeneratedFiles)
{
    public double FullMedianMs => Stats.Percentile(FullMs, 50);

    public double EditedMedianMs => Stats.Percentile(EditedMs, 50);

    public double NoEditMedianMs => Stats.Percentile(NoEditMs, 50);

    /// <summary>Allocation of a full run on the thread that runs the driver (the driver runs generators synchronously).</summary>
    public long FullAllocatedMedian => (long)Stats.Percentile([.. FullAllocatedBytes.Select(b => (double)b)], 50);

    public long FullAllocatedMedianAllThreads => (long)Stats.Percentile([.. FullAllocatedBytesAllThreads.Select(b => (double)b)], 50);
}
