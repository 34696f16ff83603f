using System.Diagnostics;
using AttributeLock.EtcdFixture;

namespace AttributeLock.Benchmarks;

/// <summary>One row of the scale table: N holds kept alive at once by one provider for a while.</summary>
public sealed record ScaleResult(
    int Holds, int TtlSeconds, double HoldSeconds, double AcquireSeconds, int AcquireFailures, int NotAsked, int Lost, int LostWhileReleasing,
    double ClientCpuMsPerSecond, double EtcdCpuMsPerSecond, double RenewalsPerSecond, double AllocatedMiBPerSecond,
    int Gen2Collections, double HeapMiBHeld, double RetainedBytesPerReleasedHold, double ReleaseSeconds, int MaxThreads);

/// <summary>
/// How many holds one process can keep: acquires N locks (TTL 10 by default), keeps them for a while doing nothing
/// else, counts the holds reported lost, the CPU of this process and of etcd, the renewals etcd received, the
/// allocation rate and gen-2 collections; then releases them all at once (one <c>DisposeAsync</c> after another, without
/// awaiting in between: the storm a shutdown or a batch job makes), counts the holds still held that were lost meanwhile,
/// and measures what stays reachable. Past 10,000 holds, once <see cref="StopAskingAfterRefusals"/> acquires in a row
/// were refused the rest are not asked for (each refusal waits for room up to a request timeout, 5 s: refusing the
/// whole remainder of 50,000 took 25 minutes and showed nothing more).
/// </summary>
public static class ScaleHarness
{
    /// <summary>Refusals in a row after which a row past 10,000 holds stops asking for more.</summary>
    public const int StopAskingAfterRefusals = 1000;

    public static async Task<List<ScaleResult>> RunAsync(string endpoint, int? etcdPid, IReadOnlyList<int> sizes, TimeSpan hold, int ttl)
    {
        var results = new List<ScaleResult>();
        foreach (int n in sizes)
        {
            results.Add(await RunOneAsync(endpoint, etcdPid, n, hold, ttl));
        }

        return results;
    }

    private static async Task<ScaleResult> RunOneAsync(string endpoint, int? etcdPid, int n, TimeSpan hold, int ttl)
    {
        Console.WriteLine($"  {n} holds, TTL {ttl} s, kept {hold.TotalSeconds:0} s; load before: {BenchReport.LoadAverage()}");
        var options = new EtcdLockProviderOptions { Endpoints = { endpoint }, KeyPrefix = $"/attributelock-scale-{n}-{Guid.NewGuid():N}"[..40] };
        long heapBefore = 0;
        var handles = new EtcdLockHandle[n];
        int failures = 0;
        int refusedInARow = 0;
        int lost = 0;
        double releaseSeconds;
        double acquireSeconds;
        double clientCpu, etcdCpu, renewals, allocated, seconds, heapHeld;
        int gen2;
        int maxThreads = 0;
        await using (var provider = new EtcdLockProvider(options))
        {
            // The baseline: a provider that has connected, held and released a lock once.
            await (await provider.AcquireAsync("warm-up", new EtcdLockOptions { TtlSeconds = ttl })).DisposeAsync();
            heapBefore = Heap();
            var sw = Stopwatch.StartNew();
            int next = -1;
            var workers = Enumerable.Range(0, 64).Select(_ => Task.Run(async () =>
            {
                int i;
                while ((i = Interlocked.Increment(ref next)) < n)
                {
                    if (n > 10_000 && Volatile.Read(ref refusedInARow) >= StopAskingAfterRefusals)
                    {
                        break;
                    }

                    try
                    {
                        EtcdLockHandle h = await provider.AcquireAsync($"k{i}", new EtcdLockOptions { TtlSeconds = ttl }).ConfigureAwait(false);
                        h.LostToken.Register(() => Interlocked.Increment(ref lost));
                        handles[i] = h;
                        Volatile.Write(ref refusedInARow, 0);
                    }
                    catch (Exception ex) when (ex is EtcdLockUnavailableException or TimeoutException)
                    {
                        Interlocked.Increment(ref refusedInARow);
                        if (Interlocked.Increment(ref failures) <= 3)
                        {
                            Console.WriteLine($"    acquire failed: {ex.Message}");
                        }
                    }
                }
            })).ToArray();
            await Task.WhenAll(workers);
            acquireSeconds = sw.Elapsed.TotalSeconds;
            int lostDuringAcquire = Volatile.Read(ref lost);
            int acquired = handles.Count(h => h is not null);
            int notAsked = n - acquired - failures;
            Console.WriteLine($"    acquired {acquired} in {acquireSeconds:0.0} s ({failures} failed, {notAsked} not asked after {StopAskingAfterRefusals} refusals in a row, {lostDuringAcquire} lost meanwhile)");

            // Let the renewals settle into their rhythm, then measure one window.
            await Task.Delay(TimeSpan.FromSeconds(Math.Min(ttl, hold.TotalSeconds / 4)));
            double renewalsBefore = await EtcdServer.ReadMetricAsync(endpoint, "grpc_server_msg_received_total", "grpc_method=\"LeaseKeepAlive\"");
            double cpuBefore = Cpu.ClientMs();
            double etcdBefore = Cpu.ProcessMs(etcdPid);
            long allocBefore = GC.GetTotalAllocatedBytes(precise: false);
            int gen2Before = GC.CollectionCount(2);
            sw.Restart();
            while (sw.Elapsed < hold)
            {
                await Task.Delay(1000);
                maxThreads = Math.Max(maxThreads, Process.GetCurrentProcess().Threads.Count);
            }

            seconds = sw.Elapsed.TotalSeconds;
            clientCpu = (Cpu.ClientMs() - cpuBefore) / seconds;
            etcdCpu = (Cpu.ProcessMs(etcdPid) - etcdBefore) / seconds;
            renewals = (await EtcdServer.ReadMetricAsync(endpoint, "grpc_server_msg_received_total", "grpc_method=\"LeaseKeepAlive\"") - renewalsBefore) / seconds;
            allocated = (GC.GetTotalAllocatedBytes(precise: false) - allocBefore) / (1024.0 * 1024) / seconds;
            gen2 = GC.CollectionCount(2) - gen2Before;
            heapHeld = (Heap() - heapBefore) / (1024.0 * 1024);
            Console.WriteLine($"    kept {seconds:0} s: {Volatile.Read(ref lost)} lost; client CPU {clientCpu:0} ms/s, etcd CPU {etcdCpu:0} ms/s, {renewals:0} renewals/s, {allocated:0.0} MiB/s allocated, {gen2} gen-2 GCs, heap +{heapHeld:0.0} MiB, at most {maxThreads} threads");

            int lostBeforeRelease = Volatile.Read(ref lost);
            sw.Restart();
            await Task.WhenAll(handles.Where(h => h is not null).Select(h => h.DisposeAsync().AsTask()));
            releaseSeconds = sw.Elapsed.TotalSeconds;
            // A hold is marked released first thing in its dispose, so these were lost while still held, waiting
            // for their turn in the storm.
            int lostWhileReleasing = Volatile.Read(ref lost) - lostBeforeRelease;
            lost = lostBeforeRelease;
            Array.Clear(handles);
            // Still inside the provider: what a long-lived provider keeps after releasing N holds (their TTL has not
            // passed: anything still queued per lease would show here).
            await Task.Delay(500);
            double retained = (Heap() - heapBefore) / (double)n;
            Console.WriteLine($"    released in {releaseSeconds:0.0} s ({lostWhileReleasing} holds not released yet were lost meanwhile); heap after release {retained:0} B per released hold over the empty provider");
            return new ScaleResult(n, ttl, seconds, acquireSeconds, failures, notAsked, lost, lostWhileReleasing, clientCpu, etcdCpu, renewals, allocated, gen2, heapHeld, retained, releaseSeconds, maxThreads);
        }
    }

    private static long Heap()
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
        return GC.GetTotalMemory(forceFullCollection: true);
    }
}
