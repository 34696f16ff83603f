using System.Diagnostics;
using Google.Protobuf;

namespace AttributeLock.Benchmarks;

/// <summary>
/// (4) and (5): 8 callers on one key or on 8 keys, for a fixed time after a warm-up; throughput of completed calls
/// and (one key) hand-off latency. Measured for the generated wrapper, for hand-written calls queued on a local
/// gate (what the library does inside one process) and for the pre-granted-lease prototype.
/// </summary>
public sealed class ContentionHarness(string endpoint, int? etcdProcessId, TimeSpan warmup, TimeSpan measure)
{
    public const int Callers = 8;

    public async Task<IReadOnlyList<RunResult>> RunAllAsync()
    {
        var results = new List<RunResult>();
        await using (var provider = new EtcdLockProvider(new EtcdLockProviderOptions { Endpoints = { endpoint }, KeyPrefix = "/attributelock-bench" }))
        {
            var locks = new GeneratedLocks(provider);
            var recorder = new HandOffRecorder();
            locks.Recorder = recorder;
            results.Add(await RunAsync("(4) generated wrapper, 8 callers, 1 key", keys: 1, recorder, (caller, key) => locks.HandOffAsync(key, CancellationToken.None)));
            locks.Recorder = null;
            results.Add(await RunAsync("(5) generated wrapper, 8 callers, 8 keys", keys: Callers, null, (caller, key) => locks.HandOffAsync(key, CancellationToken.None)));
        }

        using var hand = new HandWritten(endpoint);
        ByteString[] keys = Enumerable.Range(0, Callers).Select(i => ByteString.CopyFromUtf8($"/attributelock-bench/hand/{i}")).ToArray();
        SemaphoreSlim[] gates = Enumerable.Range(0, Callers).Select(_ => new SemaphoreSlim(1, 1)).ToArray();
        PreGrantedLeases[] preGranted = Enumerable.Range(0, Callers).Select(_ => new PreGrantedLeases(hand)).ToArray();

        for (int keyCount = 1; keyCount <= Callers; keyCount += Callers - 1)
        {
            string label = keyCount == 1 ? "1 key" : $"{keyCount} keys";
            var handRecorder = keyCount == 1 ? new HandOffRecorder() : null;
            Action? body = handRecorder is null ? null : () => { handRecorder.Acquired(); handRecorder.Released(); };
            results.Add(await RunAsync($"    hand-written, local gate, 8 callers, {label}", keyCount, handRecorder, async (caller, key) =>
            {
                await gates[key].WaitAsync().ConfigureAwait(false);
                try
                {
                    await hand.LockedCallAsync(keys[key], body).ConfigureAwait(false);
                }
                finally
                {
                    gates[key].Release();
                }
            }));

            var preRecorder = keyCount == 1 ? new HandOffRecorder() : null;
            Action? preBody = preRecorder is null ? null : () => { preRecorder.Acquired(); preRecorder.Released(); };
            results.Add(await RunAsync($"(P) pre-granted lease, local gate, 8 callers, {label}", keyCount, preRecorder, async (caller, key) =>
            {
                PreGrantedLeases leases = preGranted[caller];
                leases.Prepare(); // granted while this caller waits for the gate: off the hand-off's critical path
                await gates[key].WaitAsync().ConfigureAwait(false);
                try
                {
                    await leases.LockedCallAsync(keys[key], preBody, grantNext: false).ConfigureAwait(false);
                }
                finally
                {
                    gates[key].Release();
                }
            }));
        }

        foreach (PreGrantedLeases leases in preGranted)
        {
            await leases.DisposeAsync();
        }

        return results;
    }

    private async Task<RunResult> RunAsync(string name, int keys, HandOffRecorder? recorder, Func<int, int, Task> call)
    {
        long completed = 0;
        int counting = 0;
        long windowEnd = long.MaxValue;
        bool stop = false;
        Task[] callers = Enumerable.Range(0, Callers).Select(caller => Task.Run(async () =>
        {
            int key = caller % keys;
            while (!Volatile.Read(ref stop))
            {
                await call(caller, key).ConfigureAwait(false);
                if (Volatile.Read(ref counting) == 1 && Stopwatch.GetTimestamp() <= Volatile.Read(ref windowEnd))
                {
                    Interlocked.Increment(ref completed);
                }
            }
        })).ToArray();

        await Task.Delay(warmup);
        // Leases alive in etcd, sampled every 100 ms over the window: the holder's, the pre-granted ones and any
        // revoke still on its way (an upper bound of what the variant keeps).
        using var leaseCounter = new dotnet_etcd.EtcdClient(endpoint);
        int maxLeases = 0;
        using var sampling = new CancellationTokenSource();
        Task sampler = Task.Run(async () =>
        {
            while (!sampling.IsCancellationRequested)
            {
                int count = (await leaseCounter.LeaseLeasesAsync(new Etcdserverpb.LeaseLeasesRequest()).ConfigureAwait(false)).Leases.Count;
                maxLeases = Math.Max(maxLeases, count);
                await Task.Delay(100).ConfigureAwait(false);
            }
        });
        recorder?.Start();
        double clientCpu = Cpu.ClientMs();
        double etcdCpu = Cpu.ProcessMs(etcdProcessId);
        long windowStart = Stopwatch.GetTimestamp();
        Volatile.Write(ref counting, 1);
        await Task.Delay(measure);
        long end = Stopwatch.GetTimestamp();
        Volatile.Write(ref windowEnd, end);
        clientCpu = Cpu.ClientMs() - clientCpu;
        etcdCpu = Cpu.ProcessMs(etcdProcessId) - etcdCpu;
        recorder?.Stop();
        sampling.Cancel();
        await sampler;
        Volatile.Write(ref stop, true);
        await Task.WhenAll(callers);
        double seconds = (end - windowStart) / (double)Stopwatch.Frequency;
        var result = new RunResult(name, Callers, keys, Interlocked.Read(ref completed), seconds, recorder?.SamplesMs() ?? [], recorder?.MaxInside ?? 1, clientCpu, etcdCpu, maxLeases);
        Console.WriteLine($"  {name}: {result.Throughput:0} calls/s, CPU per call: client {result.ClientCpuMsPerCall:0.000} ms, etcd {result.EtcdCpuMsPerCall:0.000} ms, at most {maxLeases} leases alive" +
            (result.HandOffP50 is { } p50 ? $", hand-off p50 {p50:0.000} ms, p99 {result.HandOffP99:0.000} ms ({result.HandOffsMs.Length} hand-offs)" : ""));
        return result;
    }
}
