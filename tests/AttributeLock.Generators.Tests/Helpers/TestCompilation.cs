using System.Collections.Immutable;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.Diagnostics;

namespace AttributeLock.Generators.Tests.Helpers;

/// <summary>Builds test compilations from the test host's own assemblies (nothing is downloaded) and runs the generator.</summary>
internal static class TestCompilation
{
    /// <summary>The usings every test source starts with.</summary>
    public const string Usings = """
        using System;
        using System.Threading;
        using System.Threading.Tasks;
        using AttributeLock;

        """;

    private static readonly Lazy<ImmutableArray<MetadataReference>> References = new(() =>
    {
        var paths = ((string)AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES")!).Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries).ToList();
        string runtime = typeof(EtcdLockAttribute).Assembly.Location;
        if (!paths.Contains(runtime))
        {
            paths.Add(runtime);
        }

        return [.. paths.Where(p => p.EndsWith(".dll", StringComparison.OrdinalIgnoreCase)).Select(p => (MetadataReference)MetadataReference.CreateFromFile(p))];
    });

    public static CSharpParseOptions ParseOptions { get; } = new(LanguageVersion.Latest);

    /// <summary>The framework assemblies plus AttributeLock.dll.</summary>
    public static ImmutableArray<MetadataReference> MetadataReferences => References.Value;

    /// <summary>A library compilation of <paramref name="sources"/> (file names User0.cs, User1.cs, ...).</summary>
    public static CSharpCompilation Create(params string[] sources)
        => CSharpCompilation.Create(
            "UserAssembly",
            sources.Select((s, i) => CSharpSyntaxTree.ParseText(s, ParseOptions, path: $"User{i}.cs")),
            References.Value,
            new CSharpCompilationOptions(OutputKind.DynamicallyLinkedLibrary, nullableContextOptions: NullableContextOptions.Enable));

    /// <summary>A driver for the generator, tracking its steps.</summary>
    public static GeneratorDriver CreateDriver()
        => CSharpGeneratorDriver.Create(
            [new EtcdLockGenerator().AsSourceGenerator()],
            parseOptions: ParseOptions,
            driverOptions: new GeneratorDriverOptions(IncrementalGeneratorOutputKind.None, trackIncrementalGeneratorSteps: true));

    /// <summary>Runs the generator over <paramref name="sources"/>.</summary>
    public static GeneratorOutcome Run(params string[] sources)
    {
        CSharpCompilation compilation = Create(sources);
        GeneratorDriver driver = CreateDriver().RunGeneratorsAndUpdateCompilation(compilation, out Compilation output, out ImmutableArray<Diagnostic> diagnostics);
        GeneratorRunResult result = driver.GetRunResult().Results.Single();
        Assert.Null(result.Exception);
        return new GeneratorOutcome(output, diagnostics, result.GeneratedSources);
    }

    /// <summary>Runs the generator and the analyzers (Core calls, missing tokens); returns every AttributeLock diagnostic.</summary>
    public static async Task<(GeneratorOutcome Outcome, ImmutableArray<Diagnostic> Diagnostics)> RunWithAnalyzerAsync(params string[] sources)
    {
        GeneratorOutcome outcome = Run(sources);
        ImmutableArray<Diagnostic> analyzerDiagnostics = await outcome.Compilation
            .WithAnalyzers([new CoreCallAnalyzer(), new CancellationTokenAnalyzer()])
            .GetAnalyzerDiagnosticsAsync();
        return (outcome, outcome.GeneratorDiagnostics.AddRange(analyzerDiagnostics));
    }
}
