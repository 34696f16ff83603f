using System.Collections.Immutable;
using System.Diagnostics;
using System.Text;
using AttributeLock.Generators;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;

namespace AttributeLock.Benchmarks;

public sealed record IncrementalRun(string Edit, double Ms, double TrackedMs, IReadOnlyDictionary<string, string> StepReasons, int OutputSteps, int ReEmitted);

public sealed record GeneratorResult(int Methods, int GeneratedFiles, double ColdMs, double[] WarmMs, double[] FindOnlyMs, double TrackedMs, IReadOnlyDictionary<string, double> StepMs, IReadOnlyList<IncrementalRun> Incremental)
{
    public double WarmMedianMs => Stats.Percentile(WarmMs, 50);

    public double FindOnlyMedianMs => Stats.Percentile(FindOnlyMs, 50);
}

/// <summary>
/// (8) The generator itself: a full run of <see cref="EtcdLockGenerator"/> in a <see cref="CSharpGeneratorDriver"/>
/// over a compilation with 1,000 <c>[EtcdLock]</c> methods, then incremental re-runs after edits that do not touch
/// any attributed method, with the reason of every tracked step (nothing may be re-emitted).
/// </summary>
public static class GeneratorBenchmark
{
    private const int Files = 50;
    private const int MethodsPerFile = 20;

    private static readonly CSharpParseOptions s_parse = new(LanguageVersion.Latest);

    public static GeneratorResult Run(int warmRuns)
    {
        Compilation references = CSharpCompilation.Create("GeneratorBench", [], References(),
            new CSharpCompilationOptions(OutputKind.DynamicallyLinkedLibrary, nullableContextOptions: NullableContextOptions.Enable));
        _ = references.GetTypeByMetadataName("AttributeLock.EtcdLockAttribute") ?? throw new InvalidOperationException("AttributeLock.dll is not referenced.");
        List<SyntaxTree> trees = Enumerable.Range(0, Files)
            .Select(f => CSharpSyntaxTree.ParseText(ServiceFile(f), s_parse, path: $"Service{f}.cs"))
            .Append(CSharpSyntaxTree.ParseText("namespace Bench;\n\npublic sealed record Order(int Id, string Customer);\n", s_parse, path: "Order.cs"))
            .Append(CSharpSyntaxTree.ParseText(UnrelatedFile(0), s_parse, path: "Unrelated.cs"))
            .ToList();

        // Timed runs without step tracking, as in a build; then one tracked run starts the incremental chain.
        (double coldMs, _, _, int files) = FullRun(trees, references, track: false);
        var warm = new double[warmRuns];
        for (int i = 0; i < warmRuns; i++)
        {
            warm[i] = FullRun(trees, references, track: false).Ms;
        }

        // The floor: a generator that only finds the same methods (ForAttributeWithMetadataName) and emits nothing.
        var floor = new double[warmRuns];
        for (int i = 0; i < warmRuns; i++)
        {
            floor[i] = FullRun(trees, references, track: false, new FindOnlyGenerator()).Ms;
        }

        (double trackedMs, GeneratorDriver driver, Compilation compilation, _) = FullRun(trees, references, track: true);
        (_, GeneratorDriver untracked, _, _) = FullRun(trees, references, track: false);
        GeneratorRunResult tracked = driver.GetRunResult().Results.Single();
        var stepTimes = tracked.TrackedSteps.Concat(tracked.TrackedOutputSteps)
            .GroupBy(kv => kv.Key, StringComparer.Ordinal)
            .ToDictionary(g => g.Key, g => g.SelectMany(kv => kv.Value).Sum(r => r.ElapsedTime.TotalMilliseconds), StringComparer.Ordinal);

        var incremental = new List<IncrementalRun>();

        // Edit 1: a file without any [EtcdLock] method.
        SyntaxTree unrelated = trees[^1];
        SyntaxTree unrelatedEdited = CSharpSyntaxTree.ParseText(UnrelatedFile(1), s_parse, path: "Unrelated.cs");
        compilation = compilation.ReplaceSyntaxTree(unrelated, unrelatedEdited);
        incremental.Add(Incremental("unrelated file edited (a method added)", ref driver, ref untracked, compilation));

        // Edit 2: a file with attributed methods, but only the body of a helper method changes.
        SyntaxTree service = trees[0];
        SyntaxTree serviceEdited = CSharpSyntaxTree.ParseText(
            ServiceFile(0).Replace("=> Task.CompletedTask; // M0", "=> Task.Delay(1); // M0", StringComparison.Ordinal), s_parse, path: "Service0.cs");
        compilation = compilation.ReplaceSyntaxTree(service, serviceEdited);
        incremental.Add(Incremental("helper body edited in a file with 20 attributed methods", ref driver, ref untracked, compilation));

        // Edit 3: the same compilation again, nothing changed.
        incremental.Add(Incremental("no edit (same compilation re-run)", ref driver, ref untracked, compilation));

        return new GeneratorResult(Files * MethodsPerFile, files, coldMs, warm, floor, trackedMs, stepTimes, incremental);
    }

    private static (double Ms, GeneratorDriver Driver, Compilation Compilation, int GeneratedFiles) FullRun(List<SyntaxTree> trees, Compilation references, bool track, IIncrementalGenerator? generator = null)
    {
        // The references are already bound (as in a compiler or IDE, where they are loaded anyway): what is timed is
        // the generator's own work, binding the attributed methods included.
        Compilation compilation = references.AddSyntaxTrees(trees);
        GeneratorDriver driver = CSharpGeneratorDriver.Create(
            [(generator ?? new EtcdLockGenerator()).AsSourceGenerator()],
            parseOptions: s_parse,
            driverOptions: new GeneratorDriverOptions(IncrementalGeneratorOutputKind.None, trackIncrementalGeneratorSteps: track));
        long start = Stopwatch.GetTimestamp();
        driver = driver.RunGenerators(compilation);
        double ms = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
        GeneratorRunResult result = driver.GetRunResult().Results.Single();
        if (result.Exception is not null)
        {
            throw new InvalidOperationException("The generator failed.", result.Exception);
        }

        if (result.Diagnostics.Length > 0)
        {
            throw new InvalidOperationException("The generator reported: " + string.Join("; ", result.Diagnostics));
        }

        return (ms, driver, compilation, result.GeneratedSources.Length);
    }

    private static IncrementalRun Incremental(string edit, ref GeneratorDriver driver, ref GeneratorDriver untracked, Compilation compilation)
    {
        long start = Stopwatch.GetTimestamp();
        untracked = untracked.RunGenerators(compilation);
        double ms = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
        start = Stopwatch.GetTimestamp();
        driver = driver.RunGenerators(compilation);
        double trackedMs = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
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

    private static ImmutableArray<MetadataReference> References()
    {
        string frameworkDir = Path.GetDirectoryName(typeof(object).Assembly.Location)!;
        return [.. Directory.GetFiles(frameworkDir, "*.dll")
            .Where(IsManaged)
            .Append(typeof(EtcdLockAttribute).Assembly.Location)
            .Select(p => (MetadataReference)MetadataReference.CreateFromFile(p))];

        static bool IsManaged(string path)
        {
            try
            {
                System.Reflection.AssemblyName.GetAssemblyName(path);
                return true;
            }
            catch (BadImageFormatException)
            {
                return false;
            }
        }
    }

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

/// <summary>
/// A generator that finds the <c>[EtcdLock]</c> methods the way <see cref="EtcdLockGenerator"/> does and does nothing
/// else: what Roslyn itself costs to find them, the floor under the real generator.
/// </summary>
internal sealed class FindOnlyGenerator : IIncrementalGenerator
{
    public void Initialize(IncrementalGeneratorInitializationContext context)
    {
        IncrementalValuesProvider<string> names = context.SyntaxProvider.ForAttributeWithMetadataName(
            "AttributeLock.EtcdLockAttribute",
            static (node, _) => node is Microsoft.CodeAnalysis.CSharp.Syntax.MethodDeclarationSyntax,
            static (attributeContext, _) => attributeContext.TargetSymbol.Name);
        context.RegisterSourceOutput(names.Collect(), static (_, _) => { });
    }
}
