namespace AttributeLock.Benchmarks;

/// <summary>The etcd the in-process benchmarks talk to (set before BenchmarkDotNet runs them).</summary>
public static class BenchEnvironment
{
    private static string? s_endpoint;

    public static string Endpoint
    {
        get => s_endpoint ?? Environment.GetEnvironmentVariable("ETCD_ENDPOINTS")?.Split(',')[0].Trim()
            ?? throw new InvalidOperationException("No etcd endpoint: run the benchmarks through Program (scripts/bench.sh) or set ETCD_ENDPOINTS.");
        set => s_endpoint = value;
    }
}
