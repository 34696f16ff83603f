using System.Collections.Immutable;
using System.Diagnostics;
using System.Reflection;
using System.Text;
using AttributeLock.Generators;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;

namespace AttributeLock.Benchmarks;

/// <summary>
/// (8) The generator, measured against the runtime's own <c>[LoggerMessage]</c> generator on equivalent input in the
/// same process: 1,000 attributed methods in 50 files for each. After the warm-up rounds (the first round pays the JIT
/// of Roslyn and of the generators; it is reported apart as the cold run), every measured round runs, for each
/// generator in turn (the order alternates from round to round): a full run (fresh compilation and driver), a re-run
/// of that driver after an edit of a file without attributed methods, and a re-run with no edit. The floors are
/// do-nothing generators that only find the same methods with <c>ForAttributeWithMetadataName</c>: what Roslyn costs
/// to find them. Then tracked runs give the step times and the reason of every step after edits (nothing may be
/// re-emitted).
/// </summary>
public static class GeneratorBenchmark
{
    private const int Files = 50;
    private const int MethodsPerFile = 20;
    private const string EtcdLockAttribute = "AttributeLock.EtcdLockAttribute";
    private const string LoggerMessageAttribute = "Microsoft.Extensions.Logging.LoggerMessageAttribute";

    private static readonly CSharpParseOptions s_parse = new(LanguageVersion.Latest);

    /// <summary>One generator on its input: the trees, the unrelated file and its edited version.</summary>
    private sealed record Subject(string Name, Func<IIncrementalGenerator> Create, List<SyntaxTree> Trees, SyntaxTree Unrelated, SyntaxTree UnrelatedEdited);

    private sealed class Series(string name)
    {
        public double ColdMs = double.NaN;
        public int Files;
        public readonly List<double> Full = [];
        public readonly List<double> Edited = [];
        public readonly List<double> NoEdit = [];
        public readonly List<long> Allocated = [];
        public readonly List<long> AllocatedAllThreads = [];

        public GeneratorSeries ToResult() => new(name, ColdMs, [.. Full], [.. Edited], [.. NoEdit], [.. Allocated], [.. AllocatedAllThreads], Files);
    }

    public static GeneratorResult Run(int warmupRounds, int rounds)
    {
        string loadBefore = BenchReport.LoadAverage();
        Compilation references = CSharpCompilation.Create("GeneratorBench", [], References(),
            new CSharpCompilationOptions(OutputKind.DynamicallyLinkedLibrary, nullableContextOptions: NullableContextOptions.Enable));
        _ = references.GetTypeByMetadataName(EtcdLockAttribute) ?? throw new InvalidOperationException("AttributeLock.dll is not referenced.");
        _ = references.GetTypeByMetadataName(LoggerMessageAttribute) ?? throw new InvalidOperationException("Microsoft.Extensions.Logging.Abstractions.dll is not referenced.");
        (string loggerMessagePath, Func<IIncrementalGenerator> loggerMessage) = LoadLoggerMessageGenerator();

        SyntaxTree unrelated = Parse(UnrelatedFile(0), "Unrelated.cs");
        SyntaxTree unrelatedEdited = Parse(UnrelatedFile(1), "Unrelated.cs");
        SyntaxTree order = Parse("namespace Bench;\n\npublic sealed record Order(int Id, string Customer);\n", "Order.cs");
        List<SyntaxTree> oursTrees = [.. Enumerable.Range(0, Files).Select(f => Parse(ServiceFile(f), $"Service{f}.cs")), order, unrelated];
        List<SyntaxTree> logTrees = [.. Enumerable.Range(0, Files).Select(f => Parse(LogFile(f), $"Log{f}.cs")), order, unrelated];

        var subjects = new List<Subject>
        {
            new Subject("EtcdLockGenerator", () => new EtcdLockGenerator(), oursTrees, unrelated, unrelatedEdited),
            new Subject("LoggerMessageGenerator", loggerMessage, logTrees, unrelated, unrelatedEdited),
            new Subject("floor, [EtcdLock] input", () => new FindOnlyGenerator(EtcdLockAttribute), oursTrees, unrelated, unrelatedEdited),
            new Subject("floor, [LoggerMessage] input", () => new FindOnlyGenerator(LoggerMessageAttribute), logTrees, unrelated, unrelatedEdited),
        };
        List<Series> series = [.. subjects.Select(s => new Series(s.Name))];
        var generatedChars = new long[2];

        // Round 0 is the cold run (ours first: it pays the JIT of Roslyn itself); rounds 1..warmupRounds are not kept.
        for (int round = 0; round < 1 + warmupRounds + rounds; round++)
        {
            if (round == 1)
            {
                // The replays: find the same methods and add the very files the real generator produced (text built
                // ahead), so that real - replay is the generator's own work and replay - floor is Roslyn's cost of
                // taking the generated files.
                foreach (Subject real in subjects.Take(2).ToList())
                {
                    var outputs = FullRun(real, references, track: false).Driver.GetRunResult().Results.Single().GeneratedSources
                        .Select(g => (g.HintName, g.SourceText)).ToArray();
                    generatedChars[real.Trees == oursTrees ? 0 : 1] = outputs.Sum(o => (long)o.SourceText.Length);
                    string attribute = real.Trees == oursTrees ? EtcdLockAttribute : LoggerMessageAttribute;
                    subjects.Add(real with { Name = $"replay, {(real.Trees == oursTrees ? "[EtcdLock]" : "[LoggerMessage]")} input", Create = () => new ReplayGenerator(attribute, outputs) });
                    series.Add(new Series(subjects[^1].Name));
                }
            }

            // Alternate the order, so that neither generator always runs right after the other's garbage.
            int[] runOrder = round % 2 == 0 ? [0, 1, 2, 3, 4, 5] : [1, 0, 3, 2, 5, 4];
            foreach (int i in runOrder.Where(i => i < subjects.Count))
            {
                (double full, double edited, double noEdit, long allocated, long allocatedAll, int files) = Round(subjects[i], references);
                Series s = series[i];
                s.Files = files;
                if (round == 0)
                {
                    s.ColdMs = full;
                }
                else if (round > warmupRounds)
                {
                    s.Full.Add(full);
                    s.Edited.Add(edited);
                    s.NoEdit.Add(noEdit);
                    s.Allocated.Add(allocated);
                    s.AllocatedAllThreads.Add(allocatedAll);
                }
            }
        }

        GeneratorSeries ours = series[0].ToResult();
        GeneratorSeries log = series[1].ToResult();
        double[] Ratios(Func<GeneratorSeries, double[]> pick) => [.. pick(ours).Zip(pick(log), (a, b) => a / b)];

        // Step times and step reasons (tracked runs are several times slower and are not the figures above).
        (double trackedMs, GeneratorDriver driver, Compilation compilation, _, _, _) = FullRun(subjects[0], references, track: true);
        GeneratorRunResult tracked = driver.GetRunResult().Results.Single();
        var stepTimes = tracked.TrackedSteps.Concat(tracked.TrackedOutputSteps)
            .GroupBy(kv => kv.Key, StringComparer.Ordinal)
            .ToDictionary(g => g.Key, g => g.SelectMany(kv => kv.Value).Sum(r => r.ElapsedTime.TotalMilliseconds), StringComparer.Ordinal);
        (_, GeneratorDriver untracked, _, _, _, _) = FullRun(subjects[0], references, track: false);

        var incremental = new List<IncrementalRun>();

        // Edit 1: a file without any [EtcdLock] method.
        compilation = compilation.ReplaceSyntaxTree(unrelated, unrelatedEdited);
        incremental.Add(Incremental("unrelated file edited (a method added)", ref driver, ref untracked, compilation));

        // Edit 2: a file with attributed methods, but only the body of a helper method changes.
        SyntaxTree serviceEdited = Parse(ServiceFile(0).Replace("=> Task.CompletedTask; // M0", "=> Task.Delay(1); // M0", StringComparison.Ordinal), "Service0.cs");
        compilation = compilation.ReplaceSyntaxTree(oursTrees[0], serviceEdited);
        incremental.Add(Incremental("helper body edited in a file with 20 attributed methods", ref driver, ref untracked, compilation));

        // Edit 3: the same compilation again, nothing changed.
        incremental.Add(Incremental("no edit (same compilation re-run)", ref driver, ref untracked, compilation));

        return new GeneratorResult(Files * MethodsPerFile, warmupRounds, rounds, loggerMessagePath, ours, log,
            series[2].ToResult(), series[3].ToResult(), series[4].ToResult(), series[5].ToResult(), generatedChars[0], generatedChars[1],
            Ratios(s => s.FullMs), Ratios(s => s.EditedMs), Ratios(s => s.NoEditMs),
            trackedMs, stepTimes, incremental, loadBefore, BenchReport.LoadAverage());
    }

    /// <summary>One round for one generator: full run, re-run after the unrelated edit, re-run with no edit.</summary>
    private static (double Full, double Edited, double NoEdit, long Allocated, long AllocatedAllThreads, int Files) Round(Subject subject, Compilation references)
    {
        (double full, GeneratorDriver driver, Compilation compilation, int files, long allocated, long allocatedAll) = FullRun(subject, references, track: false);
        compilation = compilation.ReplaceSyntaxTree(subject.Unrelated, subject.UnrelatedEdited);
        double edited = Timed(ref driver, compilation);
        double noEdit = Timed(ref driver, compilation);
        return (full, edited, noEdit, allocated, allocatedAll, files);
    }

    private static double Timed(ref GeneratorDriver driver, Compilation compilation)
    {
        long start = Stopwatch.GetTimestamp();
        driver = driver.RunGenerators(compilation);
        return Stopwatch.GetElapsedTime(start).TotalMilliseconds;
    }

    private static (double Ms, GeneratorDriver Driver, Compilation Compilation, int GeneratedFiles, long Allocated, long AllocatedAllThreads) FullRun(Subject subject, Compilation references, bool track)
    {
        // The references are already bound (as in a compiler or IDE, where they are loaded anyway): what is timed is
        // the generator's own work, binding the attributed methods included. A collection before the clock starts
        // keeps one run's garbage from being collected on the next run's time.
        Compilation compilation = references.AddSyntaxTrees(subject.Trees);
        GeneratorDriver driver = CSharpGeneratorDriver.Create(
            [subject.Create().AsSourceGenerator()],
            parseOptions: s_parse,
            driverOptions: new GeneratorDriverOptions(IncrementalGeneratorOutputKind.None, trackIncrementalGeneratorSteps: track));
        GC.Collect();
        GC.WaitForPendingFinalizers();
        long allocatedAll = GC.GetTotalAllocatedBytes(precise: true);
        long allocated = GC.GetAllocatedBytesForCurrentThread();
        long start = Stopwatch.GetTimestamp();
        driver = driver.RunGenerators(compilation);
        double ms = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
        allocated = GC.GetAllocatedBytesForCurrentThread() - allocated;
        allocatedAll = GC.GetTotalAllocatedBytes(precise: true) - allocatedAll;
        GeneratorRunResult result = driver.GetRunResult().Results.Single();
        if (result.Exception is not null)
        {
            throw new InvalidOperationException($"{subject.Name} failed.", result.Exception);
        }

        if (result.Diagnostics.Length > 0)
        {
            throw new InvalidOperationException($"{subject.Name} reported: " + string.Join("; ", result.Diagnostics));
        }

        return (ms, driver, compilation, result.GeneratedSources.Length, allocated, allocatedAll);
    }

    private static IncrementalRun Incremental(string edit, ref GeneratorDriver driver, ref GeneratorDriver untracked, Compilation compilation)
    {
        double ms = Timed(ref untracked, compilation);
        double trackedMs = Timed(ref driver, compilation);
        GeneratorRunResult result = driver.GetRunResult().Results.Single();
        var reasons = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach ((string step, ImmutableArray<IncrementalGeneratorRunStep> runs) in result.TrackedSteps)
        {
            reasons[step] = Summarize(runs);
        }

        var outputs = result.TrackedOutputSteps.SelectMany(s => s.Value).SelectMany(r => r.Outputs).ToList();
        int reEmitted = outputs.Count(o => o.Reason is IncrementalStepRunReason.New or IncrementalStepRunReason.Modified);
        reasons["(source outputs)"] = Summarize(result.TrackedOutputSteps.SelectMany(s => s.Value));
        return new IncrementalRun(edit, ms, trackedMs, reasons, outputs.Count, reEmitted);
    }

    private static string Summarize(IEnumerable<IncrementalGeneratorRunStep> runs) =>
        string.Join(", ", runs.SelectMany(r => r.Outputs).GroupBy(o => o.Reason).OrderBy(g => g.Key).Select(g => $"{g.Key} {g.Count()}"));

    /// <summary>
    /// The runtime's <c>[LoggerMessage]</c> generator, as it ships in the Microsoft.Extensions.Logging.Abstractions
    /// package (analyzers/dotnet/roslyn4.x/cs): the package version this program references, from the NuGet cache
    /// (NUGET_PACKAGES or ~/.nuget/packages), the newest Roslyn flavour. LOGGERMESSAGE_GENERATOR overrides the path.
    /// </summary>
    private static (string Path, Func<IIncrementalGenerator> Create) LoadLoggerMessageGenerator()
    {
        string? path = Environment.GetEnvironmentVariable("LOGGERMESSAGE_GENERATOR");
        if (string.IsNullOrEmpty(path))
        {
            Assembly abstractions = typeof(Microsoft.Extensions.Logging.ILogger).Assembly;
            string version = abstractions.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion.Split('+')[0]
                ?? throw new InvalidOperationException("Microsoft.Extensions.Logging.Abstractions has no informational version.");
            string cache = Environment.GetEnvironmentVariable("NUGET_PACKAGES") is { Length: > 0 } configured
                ? configured
                : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");
            string analyzers = Path.Combine(cache, "microsoft.extensions.logging.abstractions", version, "analyzers", "dotnet");
            path = Directory.Exists(analyzers)
                ? Directory.GetDirectories(analyzers, "roslyn4.*")
                    .Select(d => (Dir: d, Version: Version.Parse(Path.GetFileName(d)["roslyn".Length..])))
                    .OrderByDescending(d => d.Version)
                    .Select(d => Path.Combine(d.Dir, "cs", "Microsoft.Extensions.Logging.Generators.dll"))
                    .FirstOrDefault(File.Exists)
                : null;
            if (path is null)
            {
                throw new FileNotFoundException($"The LoggerMessage generator was not found under {analyzers} (restore the project, or set LOGGERMESSAGE_GENERATOR).");
            }
        }

        Assembly assembly = Assembly.LoadFrom(path);
        Type type = assembly.GetTypes().Single(t => !t.IsAbstract && typeof(IIncrementalGenerator).IsAssignableFrom(t) && t.Name == "LoggerMessageGenerator");
        return (path, () => (IIncrementalGenerator)Activator.CreateInstance(type)!);
    }

    private static SyntaxTree Parse(string text, string path) => CSharpSyntaxTree.ParseText(text, s_parse, path: path);

    private static ImmutableArray<MetadataReference> References()
    {
        string frameworkDir = Path.GetDirectoryName(typeof(object).Assembly.Location)!;
        return [.. Directory.GetFiles(frameworkDir, "*.dll")
            .Where(IsManaged)
            .Append(typeof(EtcdLockAttribute).Assembly.Location)
            .Append(typeof(Microsoft.Extensions.Logging.ILogger).Assembly.Location)
            .Select(p => (MetadataReference)MetadataReference.CreateFromFile(p))];

        static bool IsManaged(string path)
        {
            try
            {
                AssemblyName.GetAssemblyName(path);
                return true;
            }
            catch (BadImageFormatException)
            {
                return false;
            }
        }
    }

    /// <summary>20 <c>[EtcdLock]</c> methods with a key of two placeholders, their Core methods and helpers.</summary>
    private static string ServiceFile(int file)
    {
        var sb = new StringBuilder();
        sb.AppendLine("using System.Threading;\nusing System.Threading.Tasks;\nusing AttributeLock;\n\nnamespace Bench;\n");
        sb.AppendLine($"public partial class Service{file}(IEtcdLockProvider locks)\n{{");
        for (int m = 0; m < MethodsPerFile; m++)
        {
            sb.AppendLine($"    [EtcdLock(\"/service{file}/m{m}/<id>/<order.Customer>\", Ttl = 5)]");
            sb.AppendLine($"    public partial Task<int> M{m}Async(int id, Order order, CancellationToken ct);");
            sb.AppendLine($"    private Task<int> M{m}AsyncCore(int id, Order order, CancellationToken ct) => Task.FromResult(id);");
            sb.AppendLine($"    private Task Helper{m}(CancellationToken ct) => Task.CompletedTask; // M{m}");
        }

        sb.AppendLine("}");
        return sb.ToString();
    }

    /// <summary>The equivalent for <c>[LoggerMessage]</c>: 20 methods with a message of two placeholders, plus the same
    /// number of other methods.</summary>
    private static string LogFile(int file)
    {
        var sb = new StringBuilder();
        sb.AppendLine("using System.Threading;\nusing System.Threading.Tasks;\nusing Microsoft.Extensions.Logging;\n\nnamespace Bench;\n");
        sb.AppendLine($"public static partial class Log{file}\n{{");
        for (int m = 0; m < MethodsPerFile; m++)
        {
            sb.AppendLine($"    [LoggerMessage(EventId = {file * MethodsPerFile + m}, Level = LogLevel.Information, Message = \"/service{file}/m{m}/{{Id}}/{{Customer}}\")]");
            sb.AppendLine($"    public static partial void M{m}(ILogger logger, int id, string customer);");
            sb.AppendLine($"    private static Task<int> M{m}Core(int id, Order order, CancellationToken ct) => Task.FromResult(id);");
            sb.AppendLine($"    private static Task Helper{m}(CancellationToken ct) => Task.CompletedTask; // M{m}");
        }

        sb.AppendLine("}");
        return sb.ToString();
    }

    private static string UnrelatedFile(int version)
    {
        var sb = new StringBuilder("namespace Bench;\n\npublic static class Unrelated\n{\n");
        for (int i = 0; i <= version; i++)
        {
            sb.AppendLine($"    public static int Value{i}() => {i};");
        }

        sb.AppendLine("}");
        return sb.ToString();
    }
}
