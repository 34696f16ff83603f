using System.Diagnostics;
using System.Diagnostics.Metrics;
using AttributeLock.EtcdFixture;

namespace AttributeLock.Benchmarks;

/// <summary>
/// (7) Thundering herd: <c>waiters</c> callers in each of two OS processes (this one and a second copy of this
/// program in worker mode) on one key. Counts the transactions etcd handled (its /metrics) and those each
/// process's provider sent (its <c>attributelock.transactions</c> counter), per hand-off.
/// </summary>
public static class HerdHarness
{
    public const string WorkerFlag = "--herd-worker";

    public static async Task<HerdResult> RunAsync(string endpoint, int waiters, int rounds)
    {
        using Process worker = StartWorker(endpoint, waiters, rounds);
        try
        {
            string? ready = await worker.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(60));
            if (ready != "READY")
            {
                throw new InvalidOperationException($"The herd worker did not start: '{ready}' {await worker.StandardError.ReadToEndAsync()}");
            }

            await using var herd = await Herd.CreateAsync(endpoint, "main process");
            double before = await EtcdServer.ReadMetricAsync(endpoint, "grpc_server_handled_total", "grpc_method=\"Txn\"");
            await worker.StandardInput.WriteLineAsync("GO");
            await worker.StandardInput.FlushAsync();
            HerdProcessResult mine = await herd.RunAsync(waiters, rounds);
            string? line = await worker.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromMinutes(5));
            HerdProcessResult theirs = ParseWorkerResult(line, worker);
            await worker.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(30));
            double after = await EtcdServer.ReadMetricAsync(endpoint, "grpc_server_handled_total", "grpc_method=\"Txn\"");
            return new HerdResult(waiters, rounds, [mine, theirs], after - before);
        }
        finally
        {
            if (!worker.HasExited)
            {
                worker.Kill(entireProcessTree: true);
            }
        }
    }

    private static HerdProcessResult ParseWorkerResult(string? line, Process worker)
    {
        string[] parts = (line ?? "").Split(' ');
        if (parts.Length != 5 || parts[0] != "RESULT")
        {
            throw new InvalidOperationException($"The herd worker answered '{line}' (exit {(worker.HasExited ? worker.ExitCode : -1)}).");
        }

        return new HerdProcessResult("worker process", long.Parse(parts[1]), long.Parse(parts[2]), long.Parse(parts[3]),
            double.Parse(parts[4], System.Globalization.CultureInfo.InvariantCulture));
    }

    private static Process StartWorker(string endpoint, int waiters, int rounds)
    {
        string self = Environment.ProcessPath ?? throw new InvalidOperationException("No process path.");
        var psi = new ProcessStartInfo(self)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        if (Path.GetFileNameWithoutExtension(self) == "dotnet")
        {
            psi.ArgumentList.Add(typeof(HerdHarness).Assembly.Location);
        }

        foreach (string a in new[] { WorkerFlag, endpoint, waiters.ToString(), rounds.ToString() })
        {
            psi.ArgumentList.Add(a);
        }

        return Process.Start(psi) ?? throw new InvalidOperationException("Could not start the herd worker.");
    }

    /// <summary>Worker mode: prints READY, waits for GO on stdin, runs its herd, prints RESULT.</summary>
    public static async Task<int> WorkerMainAsync(string[] args)
    {
        string endpoint = args[1];
        int waiters = int.Parse(args[2]);
        int rounds = int.Parse(args[3]);
        await using var herd = await Herd.CreateAsync(endpoint, "worker process");
        Console.WriteLine("READY");
        if (await Console.In.ReadLineAsync() != "GO")
        {
            return 2;
        }

        HerdProcessResult result = await herd.RunAsync(waiters, rounds);
        Console.WriteLine(FormattableString.Invariant($"RESULT {result.Acquisitions} {result.Transactions} {result.Busy} {result.Seconds}"));
        return 0;
    }

    /// <summary>One process's herd: its own provider, its transactions counted through the provider's meter.</summary>
    private sealed class Herd : IAsyncDisposable
    {
        private readonly string _name;
        private readonly CapturingMeterFactory _meters = new();
        private readonly MeterListener _listener = new();
        private readonly EtcdLockProvider _provider;
        private readonly GeneratedLocks _locks;
        private long _transactions;
        private long _busy;

        private Herd(string endpoint, string name)
        {
            _name = name;
            _provider = new EtcdLockProvider(new EtcdLockProviderOptions { Endpoints = { endpoint }, KeyPrefix = "/attributelock-bench" }, meterFactory: _meters);
            _locks = new GeneratedLocks(_provider);
            _listener.InstrumentPublished = (instrument, listener) =>
            {
                if (instrument.Meter == _meters.Meter && instrument.Name == EtcdLockTelemetry.Transactions)
                {
                    listener.EnableMeasurementEvents(instrument);
                }
            };
            _listener.SetMeasurementEventCallback<long>((_, value, tags, _) =>
            {
                Interlocked.Add(ref _transactions, value);
                foreach (KeyValuePair<string, object?> tag in tags)
                {
                    if (tag.Key == "outcome" && "busy".Equals(tag.Value))
                    {
                        Interlocked.Add(ref _busy, value);
                    }
                }
            });
            _listener.Start();
        }

        public static async Task<Herd> CreateAsync(string endpoint, string name)
        {
            var herd = new Herd(endpoint, name);
            // Warm-up on another key: connection, JIT. Not counted.
            await using (await herd._provider.AcquireAsync("/bench/herd-warmup"))
            {
            }

            herd.Reset();
            return herd;
        }

        private void Reset()
        {
            Interlocked.Exchange(ref _transactions, 0);
            Interlocked.Exchange(ref _busy, 0);
            Interlocked.Exchange(ref _locks.HerdAcquisitions, 0);
        }

        public async Task<HerdProcessResult> RunAsync(int waiters, int rounds)
        {
            var sw = Stopwatch.StartNew();
            await Task.WhenAll(Enumerable.Range(0, waiters).Select(_ => Task.Run(async () =>
            {
                for (int i = 0; i < rounds; i++)
                {
                    await _locks.HerdAsync(CancellationToken.None).ConfigureAwait(false);
                }
            })));
            sw.Stop();
            return new HerdProcessResult(_name, Interlocked.Read(ref _locks.HerdAcquisitions), Interlocked.Read(ref _transactions), Interlocked.Read(ref _busy), sw.Elapsed.TotalSeconds);
        }

        public async ValueTask DisposeAsync()
        {
            _listener.Dispose();
            await _provider.DisposeAsync();
            _meters.Dispose();
        }
    }

    private sealed class CapturingMeterFactory : IMeterFactory
    {
        public Meter? Meter { get; private set; }

        public Meter Create(MeterOptions options) => Meter = new Meter(options);

        public void Dispose() => Meter?.Dispose();
    }
}
