using System.Diagnostics;
using Google.Protobuf;

namespace AttributeLock.Benchmarks;

/// <summary>
/// Records hand-offs: from one holder's release (the end of its body) to the next holder's acquire (the start of
/// the next body). Called only inside the lock, so calls never overlap; an overlap would show as a negative sample.
/// </summary>
public sealed class HandOffRecorder
{
    private readonly long[] _samples = new long[1 << 20];
    private int _count;
    private long _lastRelease;
    private int _inside;
    private int _maxInside;
    private volatile bool _recording;

    public void Start()
    {
        Volatile.Write(ref _lastRelease, 0);
        _count = 0;
        _recording = true;
    }

    public void Stop() => _recording = false;

    public void Acquired()
    {
        long now = Stopwatch.GetTimestamp();
        int inside = Interlocked.Increment(ref _inside);
        if (inside > _maxInside)
        {
            _maxInside = inside;
        }

        long last = Volatile.Read(ref _lastRelease);
        if (_recording && last != 0 && _count < _samples.Length)
        {
            _samples[_count++] = now - last;
        }
    }

    public void Released()
    {
        Interlocked.Decrement(ref _inside);
        Volatile.Write(ref _lastRelease, _recording ? Stopwatch.GetTimestamp() : 0);
    }

    /// <summary>Most holders seen inside at once: 1 unless mutual exclusion broke.</summary>
    public int MaxInside => _maxInside;

    public double[] SamplesMs() => _samples.Take(_count).Select(t => t * 1000.0 / Stopwatch.Frequency).ToArray();
}

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

/// <summary>CPU time of this process and of another one (from /proc), in milliseconds.</summary>
public static class Cpu
{
    public static double ClientMs() => Process.GetCurrentProcess().TotalProcessorTime.TotalMilliseconds;

    /// <summary>utime + stime of a process from /proc/PID/stat; NaN when unknown.</summary>
    public static double ProcessMs(int? pid)
    {
        if (pid is null)
        {
            return double.NaN;
        }

        try
        {
            string stat = File.ReadAllText($"/proc/{pid}/stat");
            // Fields after the command name (which is in parentheses and may hold spaces): state is field 3, utime 14, stime 15.
            string[] fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            long ticks = long.Parse(fields[11], System.Globalization.CultureInfo.InvariantCulture) + long.Parse(fields[12], System.Globalization.CultureInfo.InvariantCulture);
            return ticks * 1000.0 / ClockTicksPerSecond;
        }
        catch (IOException)
        {
            return double.NaN;
        }
    }

    // USER_HZ is 100 on Linux for every common architecture.
    private const double ClockTicksPerSecond = 100;
}
