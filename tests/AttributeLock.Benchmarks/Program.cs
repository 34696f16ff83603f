// AttributeLock benchmarks: what a locked call costs, against hand-written dotnet-etcd calls and etcd's own lock API,
// on a real etcd. Run everything with scripts/bench.sh (docs/benchmarks.md explains the figures).
//
//   [--quick] [--only calls,paired,contention,herd,allocs,generator] [--artifacts DIR]
//       Starts a throw-away etcd (tmpfs data dir) unless ETCD_ENDPOINTS is set, runs the sections, prints the
//       tables and the targets, and writes them to DIR/attributelock-summary.md.
//   --only scale [--scale-holds 1000,10000,50000] [--scale-seconds 120] [--scale-ttl 10]
//       N holds kept alive at once by one provider (not in the default set: it takes minutes per size).
//   --only generator [--warmup-rounds N] [--rounds N]
//       The generator comparison alone (EtcdLockGenerator against the runtime's LoggerMessage generator, interleaved
//       rounds after N warm-up rounds; default 35 and 30, quick 10 and 10). It needs no etcd, so none is started.
//   --herd-worker ENDPOINT WAITERS ROUNDS
//       The second process of the thundering-herd section (started by the first one).
using System.Diagnostics;
using AttributeLock.Benchmarks;
using AttributeLock.EtcdFixture;
using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Diagnosers;
using BenchmarkDotNet.Exporters;
using Perfolizer.Horology;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Loggers;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;
using BenchmarkDotNet.Toolchains.InProcess.Emit;

if (args.Length > 0 && args[0] == HerdHarness.WorkerFlag)
{
    return await HerdHarness.WorkerMainAsync(args);
}

bool quick = args.Contains("--quick");
string artifacts = Path.GetFullPath(ArgValue("--artifacts") ?? "BenchmarkDotNet.Artifacts");
HashSet<string> sections = (ArgValue("--only") ?? "calls,paired,contention,herd,allocs,generator").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).ToHashSet();
Directory.CreateDirectory(artifacts);

var total = Stopwatch.StartNew();
var report = new BenchReport(quick) { LoadBefore = BenchReport.LoadAverage() };
EtcdServer? server = null;
string? configured = Environment.GetEnvironmentVariable("ETCD_ENDPOINTS");
bool needsEtcd = sections.Any(s => s != "generator");
if (!needsEtcd)
{
    report.DataDir = "(no etcd: generator section only)";
}
else if (string.IsNullOrWhiteSpace(configured))
{
    server = await EtcdServer.StartAsync();
    BenchEnvironment.Endpoint = server.Endpoint;
    report.DataDir = server.DataDir;
}
else
{
    BenchEnvironment.Endpoint = configured.Split(',')[0].Trim();
    report.DataDir = "(external etcd from ETCD_ENDPOINTS)";
}

try
{
    if (needsEtcd)
    {
        report.EtcdVersion = await BenchReport.EtcdVersionAsync(BenchEnvironment.Endpoint);
        Console.WriteLine($"etcd {report.EtcdVersion} at {BenchEnvironment.Endpoint}, data dir {report.DataDir}; mode {(quick ? "quick" : "full")}");
    }

    if (sections.Contains("calls"))
    {
        Console.WriteLine("== Single calls (BenchmarkDotNet, in process) ==");
        Job job = (quick
                ? Job.Default.WithId("quick").WithWarmupCount(1).WithIterationCount(3).WithIterationTime(TimeInterval.FromMilliseconds(200))
                : Job.Default.WithId("full").WithWarmupCount(3).WithIterationCount(15).WithIterationTime(TimeInterval.FromMilliseconds(500)))
            .WithLaunchCount(1)
            .WithToolchain(InProcessEmitToolchain.Instance);
        IConfig config = ManualConfig.CreateEmpty()
            .AddJob(job)
            .AddDiagnoser(MemoryDiagnoser.Default)
            .AddColumnProvider(DefaultColumnProviders.Instance)
            .AddColumn(StatisticColumn.Median, StatisticColumn.P95)
            .AddLogger(ConsoleLogger.Default)
            .AddExporter(MarkdownExporter.GitHub)
            .WithArtifactsPath(artifacts)
            .WithOrderer(new BenchmarkDotNet.Order.DefaultOrderer(BenchmarkDotNet.Order.SummaryOrderPolicy.Declared));
        Summary summary = BenchmarkRunner.Run<LockCallBenchmarks>(config);
        report.AddCalls(summary);
    }

    if (sections.Contains("paired"))
    {
        Console.WriteLine("== Single calls interleaved (custom harness, one caller) ==");
        report.Paired = await PairedCalls.RunAsync(BenchEnvironment.Endpoint, rounds: quick ? 200 : 2000);
    }

    if (sections.Contains("contention"))
    {
        Console.WriteLine("== Contention and no contention (custom harness, 8 callers) ==");
        var harness = new ContentionHarness(BenchEnvironment.Endpoint, server?.ProcessId,
            warmup: TimeSpan.FromSeconds(quick ? 0.5 : 2), measure: TimeSpan.FromSeconds(quick ? 2 : 10));
        report.Runs.AddRange(await harness.RunAllAsync());
    }

    if (sections.Contains("herd"))
    {
        Console.WriteLine("== Thundering herd (2 processes x 32 waiters, one key) ==");
        report.Herd = await HerdHarness.RunAsync(BenchEnvironment.Endpoint, waiters: 32, rounds: quick ? 2 : 10);
    }

    if (sections.Contains("scale"))
    {
        int[] sizes = (ArgValue("--scale-holds") ?? (quick ? "1000" : "1000,10000,50000")).Split(',').Select(int.Parse).ToArray();
        var keep = TimeSpan.FromSeconds(double.Parse(ArgValue("--scale-seconds") ?? (quick ? "20" : "120"), System.Globalization.CultureInfo.InvariantCulture));
        int ttl = int.Parse(ArgValue("--scale-ttl") ?? "10", System.Globalization.CultureInfo.InvariantCulture);
        Console.WriteLine($"== Scale of one process ({string.Join(", ", sizes)} holds, TTL {ttl}, kept {keep.TotalSeconds:0} s each) ==");
        report.Scale = await ScaleHarness.RunAsync(BenchEnvironment.Endpoint, server?.ProcessId, sizes, keep, ttl);
    }

    if (sections.Contains("allocs"))
    {
        Console.WriteLine("== Allocation profile (sampled types, (1) against (2)) ==");
        report.Allocations = await AllocationProfile.RunAsync(BenchEnvironment.Endpoint, calls: quick ? 1000 : 5000);
    }

    if (sections.Contains("generator"))
    {
        int warmupRounds = int.Parse(ArgValue("--warmup-rounds") ?? (quick ? "10" : "35"), System.Globalization.CultureInfo.InvariantCulture);
        int rounds = int.Parse(ArgValue("--rounds") ?? (quick ? "10" : "30"), System.Globalization.CultureInfo.InvariantCulture);
        Console.WriteLine($"== Generator against LoggerMessage (1,000 attributed methods each; {warmupRounds} warm-up rounds, {rounds} measured) ==");
        report.Generator = GeneratorBenchmark.Run(warmupRounds, rounds);
    }
}
catch (Exception ex)
{
    // Caught (not left unhandled) so that the finally below stops etcd and removes its data dir.
    Console.Error.WriteLine($"benchmark failed: {ex}");
    return 1;
}
finally
{
    if (server is not null)
    {
        await server.DisposeAsync();
    }
}

report.LoadAfter = BenchReport.LoadAverage();
report.Elapsed = total.Elapsed;
string markdown = report.ToMarkdown();
Console.WriteLine();
Console.WriteLine(markdown);
string path = Path.Combine(artifacts, "attributelock-summary.md");
await File.WriteAllTextAsync(path, markdown);
Console.WriteLine($"written to {path}");
return 0;

string? ArgValue(string name)
{
    int i = Array.IndexOf(args, name);
    return i >= 0 && i + 1 < args.Length ? args[i + 1] : null;
}
