using System.Collections.Immutable;
using System.Text;
using AttributeLock.Generators;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.Diagnostics;
using Xunit.Abstractions;

namespace AttributeLock.Generators.Tests;

/// <summary>
/// Thousands of random key templates and parameter lists through the generator and the Core-call analyzer: neither
/// ever throws, and every case either reports an error diagnostic or generates code that compiles.
/// </summary>
public sealed class GeneratorFuzzTests(ITestOutputHelper output)
{
    private static readonly CSharpParseOptions s_parseOptions = new(LanguageVersion.Latest);

    private static readonly string[] s_types =
    [
        "int", "string", "long?", "global::System.Guid", "global::System.DateTime", "object", "Order", "Order?", "Kind",
        "decimal", "Plain", "int[]", "global::System.Collections.Generic.List<int>", "bool", "char",
    ];

    private static readonly string[] s_names = ["id", "order", "name", "kind", "when", "x", "@class", "ct2"];

    private static readonly string[] s_pieces =
    [
        "/", "/", "orders", "<", ">", "<id>", "<order.CustomerId>", "<order.Customer.Country>", "<order.Missing>", "{id}",
        "<name>", "<kind>", "<when>", "<x>", "<>", "<id", "id>", ".", "..", " ", "\\\"", "é", "日本", "%", "<order.>",
        "<.id>", "<ct>", "\\\\", "<order.Id>", "<Id>",
    ];

    private static readonly string[] s_returns = ["Task", "Task<int>", "ValueTask", "ValueTask<string?>", "void", "int", "Task<Order?>"];

    [Fact]
    public async Task Random_templates_and_parameters_never_crash_and_give_a_diagnostic_or_compiling_code()
    {
        var random = new Random(20261125);
        CSharpCompilation baseCompilation = BaseCompilation();
        var generator = new EtcdLockGenerator().AsSourceGenerator();
        var analyzers = ImmutableArray.Create<DiagnosticAnalyzer>(new CoreCallAnalyzer());
        int compiled = 0, diagnosed = 0;
        var ids = new SortedDictionary<string, int>();
        const int cases = 2000;

        for (int i = 0; i < cases; i++)
        {
            string source = RandomCase(random, out string description);
            CSharpCompilation compilation = baseCompilation.AddSyntaxTrees(CSharpSyntaxTree.ParseText(source, s_parseOptions));
            GeneratorDriver driver = CSharpGeneratorDriver.Create([generator], parseOptions: s_parseOptions).RunGeneratorsAndUpdateCompilation(compilation, out Compilation outputCompilation, out ImmutableArray<Diagnostic> generatorDiagnostics);
            GeneratorRunResult result = driver.GetRunResult().Results[0];
            Assert.True(result.Exception is null, $"generator threw on {description}: {result.Exception}");

            ImmutableArray<Diagnostic> analyzerDiagnostics = await outputCompilation.WithAnalyzers(analyzers).GetAnalyzerDiagnosticsAsync();
            Assert.DoesNotContain(analyzerDiagnostics, d => d.Id == "AD0001");

            bool reported = generatorDiagnostics.Concat(analyzerDiagnostics).Any(d => d.Severity == DiagnosticSeverity.Error && d.Id.StartsWith("AL", StringComparison.Ordinal));
            if (reported)
            {
                foreach (var d in generatorDiagnostics.Concat(analyzerDiagnostics).Where(d => d.Severity == DiagnosticSeverity.Error))
                {
                    ids[d.Id] = ids.GetValueOrDefault(d.Id) + 1;
                }

                diagnosed++;
                continue;
            }

            var errors = outputCompilation.GetDiagnostics().Where(d => d.Severity == DiagnosticSeverity.Error).ToList();
            Assert.True(errors.Count == 0, $"no AL error reported, but the result does not compile for {description}:\n{string.Join("\n", errors)}\n{source}");
            compiled++;
        }

        output.WriteLine($"{cases} cases: {compiled} generated code that compiled, {diagnosed} reported an AL error ({string.Join(", ", ids.Select(kv => $"{kv.Key}: {kv.Value}"))})");
        Assert.True(compiled > 50, $"only {compiled} valid cases: the fuzzer is not reaching the emitter");
        Assert.True(diagnosed > 50, $"only {diagnosed} diagnosed cases");
    }

    private static string RandomCase(Random random, out string description)
    {
        var template = new StringBuilder();
        if (random.Next(4) != 0)
        {
            template.Append('/');
        }

        int pieces = random.Next(0, 6);
        for (int p = 0; p < pieces; p++)
        {
            template.Append(s_pieces[random.Next(s_pieces.Length)]);
        }

        var parameters = new List<string>();
        var used = new HashSet<string>();
        int count = random.Next(0, 4);
        for (int p = 0; p < count; p++)
        {
            string name = s_names[random.Next(s_names.Length)];
            if (used.Add(name))
            {
                parameters.Add($"{s_types[random.Next(s_types.Length)]} {name}");
            }
        }

        if (random.Next(3) != 0)
        {
            parameters.Add("global::System.Threading.CancellationToken ct");
        }

        bool wellFormed = random.Next(2) == 0;
        if (wellFormed)
        {
            // Half the cases are built to be valid, so the emitter is exercised as hard as the diagnostics.
            template.Clear().Append("/orders");
            foreach (string p in parameters.Where(p => !p.Contains("CancellationToken", StringComparison.Ordinal)))
            {
                string name = p[(p.LastIndexOf(' ') + 1)..].TrimStart('@');
                string type = p[..p.LastIndexOf(' ')];
                string placeholder = type switch
                {
                    "Order" or "Order?" => random.Next(2) == 0 ? $"<{name}.CustomerId>" : $"<{name}.Customer.Country>",
                    "object" or "Plain" or "int[]" or "global::System.Collections.Generic.List<int>" => "",
                    _ => $"<{name}>",
                };
                template.Append(random.Next(3) == 0 ? "-" : "/").Append(s_pieces[random.Next(3)]).Append('/').Append(placeholder);
            }
        }

        string returns = wellFormed ? s_returns[random.Next(4)] : s_returns[random.Next(s_returns.Length)];
        string coreReturns = !wellFormed && random.Next(10) == 0 ? s_returns[random.Next(s_returns.Length)] : returns;
        string ttl = random.Next(5) switch { 0 => ", Ttl = 0", 1 => ", Ttl = 5", _ => "" };
        string wait = (wellFormed ? 1 + random.Next(5) : random.Next(6)) switch { 0 => ", WaitTimeoutMilliseconds = -2", 1 => ", WaitTimeoutMilliseconds = 0", _ => "" };
        string skip = random.Next(4) == 0 ? ", WhenBusy = LockBusyBehavior.Skip" : "";
        string isStatic = random.Next(8) == 0 ? "static " : "";
        if (wellFormed && isStatic.Length > 0)
        {
            template.Append("/static");
        }
        string paramList = string.Join(", ", parameters);
        string args = string.Join(", ", parameters.Select(p => p[(p.LastIndexOf(' ') + 1)..]));
        string body = coreReturns switch
        {
            "void" => "{ }",
            "int" => "=> 1;",
            "Task" => "=> Task.CompletedTask;",
            "ValueTask" => "=> default;",
            _ => "=> default!;",
        };
        description = $"[EtcdLock(\"{template}\"{ttl}{wait}{skip})] {isStatic}{returns} M({paramList})";
        return $$"""
            #nullable enable
            using System.Threading.Tasks;
            using AttributeLock;
            namespace Fuzz
            {
                public enum Kind { A, B }
                public struct Plain { public int V; }
                public sealed class Customer { public string Country { get; set; } = "x"; }
                public sealed class Order { public int Id { get; set; } public string CustomerId { get; set; } = "c"; public Customer Customer { get; set; } = new(); }
                public partial class Service
                {
                    {{(isStatic.Length > 0 ? "private static readonly IEtcdLockProvider s_locks = null!;" : "private readonly IEtcdLockProvider _locks = null!;")}}

                    [EtcdLock("{{template}}"{{ttl}}{{wait}}{{skip}})]
                    public {{isStatic}}partial {{returns}} M({{paramList}});

                    private {{isStatic}}{{coreReturns}} MCore({{paramList}}) {{body}}

                    public void Use() { _ = {{(isStatic.Length > 0 ? "s_locks" : "_locks")}}; }
                }
            }
            """;
    }

    private static CSharpCompilation BaseCompilation()
    {
        var references = ((string)AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES")!).Split(Path.PathSeparator)
            .Where(p => Path.GetFileName(p).StartsWith("System", StringComparison.Ordinal) || Path.GetFileName(p) is "mscorlib.dll" or "netstandard.dll")
            .Select(p => MetadataReference.CreateFromFile(p))
            .Append(MetadataReference.CreateFromFile(typeof(EtcdLockAttribute).Assembly.Location))
            .ToList();
        return CSharpCompilation.Create("Fuzz", [], references, new CSharpCompilationOptions(OutputKind.DynamicallyLinkedLibrary, nullableContextOptions: NullableContextOptions.Enable));
    }
}
