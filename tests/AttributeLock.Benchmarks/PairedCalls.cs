using System.Diagnostics;
using Google.Protobuf;

namespace AttributeLock.Benchmarks;

/// <summary>
/// One caller, the single-call variants interleaved round-robin (Put, (1), (1r), (2), (2n), (P), Put, (1), ...), each call
/// timed on its own. BenchmarkDotNet measures one benchmark after the other, so a drift of the machine between them
/// (a shared VM, etcd's state) moves their ratio; interleaving exposes every variant to the same conditions.
/// </summary>
public static class PairedCalls
{
    public static async Task<IReadOnlyList<PairedFigure>> RunAsync(string endpoint, int rounds)
    {
        using var hand = new HandWritten(endpoint);
        await using var preGranted = new PreGrantedLeases(hand);
        await using var provider = new EtcdLockProvider(new EtcdLockProviderOptions { Endpoints = { endpoint }, KeyPrefix = "/attributelock-bench" });
        var locks = new GeneratedLocks(provider);
        // The same wrapper on a provider without spare leases: every call grants its lease on its critical path.
        await using var noSpares = new EtcdLockProvider(new EtcdLockProviderOptions { Endpoints = { endpoint }, KeyPrefix = "/attributelock-bench/no-spares", SpareLeases = false });
        var locksNoSpares = new GeneratedLocks(noSpares);
        // Each queue primitive on a provider of its own, as the lock's (2) has: back to back on one provider, the calls
        // of one TTL would take each other's spare lease before its refill came back.
        await using var semaphoreProvider = new EtcdLockProvider(new EtcdLockProviderOptions { Endpoints = { endpoint }, KeyPrefix = "/attributelock-bench" });
        await using var readProvider = new EtcdLockProvider(new EtcdLockProviderOptions { Endpoints = { endpoint }, KeyPrefix = "/attributelock-bench" });
        await using var writeProvider = new EtcdLockProvider(new EtcdLockProviderOptions { Endpoints = { endpoint }, KeyPrefix = "/attributelock-bench" });
        ByteString putKey = ByteString.CopyFromUtf8("/attributelock-bench/paired/put");
        ByteString value = ByteString.CopyFromUtf8("value");
        ByteString handKey = ByteString.CopyFromUtf8("/attributelock-bench/paired/hand");
        ByteString rawKey = ByteString.CopyFromUtf8("/attributelock-bench/paired/raw");
        ByteString preKey = ByteString.CopyFromUtf8("/attributelock-bench/paired/pre");
        (string Name, Func<Task> Call)[] variants =
        [
            ("(6) etcd Put (floor)", () => hand.PutAsync(putKey, value)),
            ("(1) hand-written grant+txn+revoke", () => hand.LockedCallAsync(handKey)),
            ("(1r) same, raw gRPC + deadline", () => hand.LockedCallRawAsync(rawKey)),
            ("(2) generated [EtcdLock] wrapper", () => locks.EmptyAsync(CancellationToken.None)),
            ("(2n) same, SpareLeases = false", () => locksNoSpares.EmptyAsync(CancellationToken.None)),
            ("(P) hand-written, lease pre-granted", () => preGranted.LockedCallAsync(preKey)),
            // The queue primitives beside the lock's call (2), uncontended: one ticket put and read in one transaction.
            ("(Q1) generated [EtcdSemaphore] ticket", () => new GeneratedLocks(semaphoreProvider).TicketAsync(CancellationToken.None)),
            ("(Q2) generated [EtcdReadLock]", () => new GeneratedLocks(readProvider).ReadAsync(CancellationToken.None)),
            ("(Q3) generated [EtcdWriteLock]", () => new GeneratedLocks(writeProvider).WriteAsync(CancellationToken.None)),
        ];
        int warmup = Math.Max(20, rounds / 10);
        var samples = variants.Select(_ => new double[rounds]).ToArray();
        for (int round = -warmup; round < rounds; round++)
        {
            for (int v = 0; v < variants.Length; v++)
            {
                long start = Stopwatch.GetTimestamp();
                await variants[v].Call();
                if (round >= 0)
                {
                    samples[v][round] = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
                }
            }
        }

        var figures = variants.Select((v, i) => new PairedFigure(v.Name, samples[i])).ToList();
        foreach (PairedFigure f in figures)
        {
            Console.WriteLine($"  {f.Name}: median {f.MedianMs:0.000} ms, p99 {f.P99Ms:0.000} ms");
        }

        return figures;
    }
}
