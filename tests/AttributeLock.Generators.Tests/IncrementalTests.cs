using System.Collections;
using System.Reflection;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;

namespace AttributeLock.Generators.Tests;

/// <summary>The pipeline caches its work: edits that do not change a model re-emit nothing.</summary>
public sealed class IncrementalTests
{
    private const string Service = TestCompilation.Usings + """
        namespace Shop;

        public partial class OrderService(IEtcdLockProvider locks)
        {
            [EtcdLock("/orders/<id>", Ttl = 5)]
            public partial Task ShipAsync(int id, CancellationToken ct);

            [EtcdLock("/orders/<id>/cancel")]
            public partial Task CancelAsync(int id, CancellationToken ct);

            private Task ShipAsyncCore(int id, CancellationToken ct) => Task.CompletedTask;

            private Task CancelAsyncCore(int id, CancellationToken ct) => Task.CompletedTask;
        }
        """;

    private static readonly string[] ModelSteps = [TrackingNames.Models, TrackingNames.HintNames, TrackingNames.Files];

    [Fact]
    public void Unrelated_file_leaves_everything_cached()
    {
        (GeneratorDriver driver, CSharpCompilation compilation) = FirstRun(Service);

        CSharpCompilation edited = compilation.AddSyntaxTrees(CSharpSyntaxTree.ParseText("namespace Other; public class Unrelated { public int X; }", TestCompilation.ParseOptions, path: "Unrelated.cs"));
        GeneratorRunResult second = driver.RunGenerators(edited).GetRunResult().Results.Single();

        AssertSteps(second, TrackingNames.Parse, IncrementalStepRunReason.Cached, IncrementalStepRunReason.Unchanged);
        foreach (string step in ModelSteps)
        {
            AssertSteps(second, step, IncrementalStepRunReason.Cached);
        }

        AssertOutputs(second, IncrementalStepRunReason.Cached);
    }

    [Fact]
    public void Edit_in_the_same_file_that_keeps_the_models_leaves_outputs_cached()
    {
        (GeneratorDriver driver, CSharpCompilation compilation) = FirstRun(Service);

        SyntaxTree tree = compilation.SyntaxTrees.Single();
        SyntaxTree changed = tree.WithChangedText(tree.GetText().WithChanges(new Microsoft.CodeAnalysis.Text.TextChange(
            new Microsoft.CodeAnalysis.Text.TextSpan(tree.GetText().ToString().IndexOf("Task.CompletedTask;", StringComparison.Ordinal), "Task.CompletedTask;".Length),
            "Task.Delay(1, ct);")));
        GeneratorRunResult second = driver.RunGenerators(compilation.ReplaceSyntaxTree(tree, changed)).GetRunResult().Results.Single();

        AssertSteps(second, TrackingNames.Parse, IncrementalStepRunReason.Unchanged);
        foreach (string step in ModelSteps)
        {
            AssertSteps(second, step, IncrementalStepRunReason.Cached);
        }

        AssertOutputs(second, IncrementalStepRunReason.Cached);
    }

    [Fact]
    public void Changed_template_regenerates_only_that_method()
    {
        (GeneratorDriver driver, CSharpCompilation compilation) = FirstRun(Service);

        SyntaxTree tree = compilation.SyntaxTrees.Single();
        string text = tree.GetText().ToString();
        SyntaxTree changed = tree.WithChangedText(Microsoft.CodeAnalysis.Text.SourceText.From(text.Replace("Ttl = 5", "Ttl = 6", StringComparison.Ordinal)));
        GeneratorRunResult second = driver.RunGenerators(compilation.ReplaceSyntaxTree(tree, changed)).GetRunResult().Results.Single();

        var files = second.TrackedSteps[TrackingNames.Files].SelectMany(s => s.Outputs).ToList();
        Assert.Equal(1, files.Count(o => o.Reason == IncrementalStepRunReason.Modified));
        Assert.Equal(1, files.Count(o => o.Reason == IncrementalStepRunReason.Cached));
        Assert.Contains("ttlSeconds: 6", second.GeneratedSources.Single(s => s.HintName == "OrderService.ShipAsync.g.cs").SourceText.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void New_attributes_stay_cached_on_unrelated_and_body_edits()
    {
        const string Coordinated = TestCompilation.Usings + """
            namespace Shop;

            public partial class Catalog(IEtcdLockProvider locks)
            {
                [EtcdSemaphore("/catalog/<id>/build", MaxCount = 2)]
                public partial Task BuildAsync(int id, CancellationToken ct);

                [EtcdReadLock("/catalog/<id>")]
                public partial Task<int> ReadAsync(int id, CancellationToken ct);

                [EtcdLock("/catalog/<id>")]
                public partial Task RebuildAsync(int id, CancellationToken ct);

                [EtcdLeader("/catalog/leader")]
                public partial Task LeadAsync(CancellationToken stoppingToken);

                private Task BuildAsyncCore(int id, CancellationToken ct) => Task.CompletedTask;

                private Task<int> ReadAsyncCore(int id, CancellationToken ct) => Task.FromResult(id);

                private Task RebuildAsyncCore(int id, CancellationToken ct) => Task.CompletedTask;

                private Task LeadAsyncCore(CancellationToken stoppingToken) => Task.CompletedTask;
            }
            """;
        (GeneratorDriver driver, CSharpCompilation compilation) = FirstRun(Coordinated);
        GeneratorRunResult first = driver.GetRunResult().Results.Single();
        Assert.Equal(4, first.GeneratedSources.Length);
        Assert.Equal(2, first.Diagnostics.Count(d => d.Id == DiagnosticIds.LockAndReaderWriterShareTemplate));

        CSharpCompilation unrelated = compilation.AddSyntaxTrees(CSharpSyntaxTree.ParseText("namespace Other; public class Unrelated { public int X; }", TestCompilation.ParseOptions, path: "Unrelated.cs"));
        GeneratorRunResult second = driver.RunGenerators(unrelated).GetRunResult().Results.Single();
        AssertSteps(second, TrackingNames.Parse, IncrementalStepRunReason.Cached, IncrementalStepRunReason.Unchanged);
        foreach (string step in (string[])[.. ModelSteps, TrackingNames.KeyTemplates])
        {
            AssertSteps(second, step, IncrementalStepRunReason.Cached);
        }

        AssertOutputs(second, IncrementalStepRunReason.Cached);

        // A Core body edit (after every attribute, so no template moves) re-parses the file but changes no value.
        SyntaxTree tree = compilation.SyntaxTrees.Single();
        string text = tree.GetText().ToString();
        SyntaxTree changed = tree.WithChangedText(Microsoft.CodeAnalysis.Text.SourceText.From(text.Replace("Task.FromResult(id)", "Task.FromResult(id + 1)", StringComparison.Ordinal)));
        GeneratorRunResult third = driver.RunGenerators(compilation.ReplaceSyntaxTree(tree, changed)).GetRunResult().Results.Single();
        AssertSteps(third, TrackingNames.Parse, IncrementalStepRunReason.Unchanged);
        foreach (string step in (string[])[.. ModelSteps, TrackingNames.KeyTemplates])
        {
            AssertSteps(third, step, IncrementalStepRunReason.Cached);
        }

        AssertOutputs(third, IncrementalStepRunReason.Cached);
    }

    [Fact]
    public void Pipeline_values_hold_no_symbols_syntax_or_compilations()
    {
        (GeneratorDriver driver, _) = FirstRun(Service + """

            public partial class Broken
            {
                [EtcdLock("orders/<nope>")]
                public partial Task RunAsync();
            }
            """);

        GeneratorRunResult result = driver.GetRunResult().Results.Single();
        Assert.NotEmpty(result.Diagnostics);
        string[] ours = [TrackingNames.Parse, TrackingNames.Diagnostics, .. ModelSteps, TrackingNames.KeyTemplates];
        Assert.All(ours, name => Assert.True(result.TrackedSteps.ContainsKey(name), name));
        foreach (IncrementalGeneratorRunStep step in ours.SelectMany(name => result.TrackedSteps[name]))
        {
            foreach ((object value, _) in step.Outputs)
            {
                AssertPlainValue(value, step.Name ?? "(unnamed)", 0);
            }
        }
    }

    private static (GeneratorDriver Driver, CSharpCompilation Compilation) FirstRun(string source)
    {
        CSharpCompilation compilation = TestCompilation.Create(source);
        GeneratorDriver driver = TestCompilation.CreateDriver().RunGenerators(compilation);
        GeneratorRunResult first = driver.GetRunResult().Results.Single();
        Assert.All(first.TrackedSteps[TrackingNames.Files].SelectMany(s => s.Outputs), o => Assert.Equal(IncrementalStepRunReason.New, o.Reason));
        return (driver, compilation);
    }

    private static void AssertSteps(GeneratorRunResult result, string stepName, params IncrementalStepRunReason[] allowed)
    {
        var outputs = result.TrackedSteps[stepName].SelectMany(s => s.Outputs).ToList();
        Assert.NotEmpty(outputs);
        Assert.All(outputs, o => Assert.True(allowed.Contains(o.Reason), $"{stepName}: {o.Reason}"));
    }

    private static void AssertOutputs(GeneratorRunResult result, IncrementalStepRunReason reason)
    {
        var outputs = result.TrackedOutputSteps.SelectMany(s => s.Value).SelectMany(s => s.Outputs).ToList();
        Assert.NotEmpty(outputs);
        Assert.All(outputs, o => Assert.Equal(reason, o.Reason));
    }

    private static void AssertPlainValue(object? value, string step, int depth)
    {
        if (value is null || value is string || value.GetType().IsPrimitive || value.GetType().IsEnum || depth > 8)
        {
            return;
        }

        Assert.False(
            value is ISymbol or SyntaxNode or SyntaxTree or Compilation or SemanticModel or Location or AttributeData,
            $"Step '{step}' holds a {value.GetType().Name}, which defeats caching.");

        if (value is IEnumerable items)
        {
            foreach (object? item in items)
            {
                AssertPlainValue(item, step, depth + 1);
            }

            return;
        }

        Type type = value.GetType();
        if (IsGeneratorType(type) || type.FullName!.StartsWith("System.ValueTuple", StringComparison.Ordinal))
        {
            foreach (FieldInfo field in type.GetFields(BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic))
            {
                AssertPlainValue(field.GetValue(value), step, depth + 1);
            }
        }
    }

    /// <summary>The generator's own types (models live in sub-namespaces), whose fields are checked in turn.</summary>
    private static bool IsGeneratorType(Type type) => type.Assembly == typeof(TrackingNames).Assembly;
}
