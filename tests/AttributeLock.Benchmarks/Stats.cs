using Google.Protobuf;

namespace AttributeLock.Benchmarks;

public static class Stats
{
    public static double Percentile(double[] values, double percentile)
    {
        if (values.Length == 0)
        {
            return double.NaN;
        }

        double[] sorted = values.OrderBy(v => v).ToArray();
        double rank = percentile / 100.0 * (sorted.Length - 1);
        int low = (int)Math.Floor(rank);
        int high = (int)Math.Ceiling(rank);
        return sorted[low] + (sorted[high] - sorted[low]) * (rank - low);
    }
}
