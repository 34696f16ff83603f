using System.Collections.Immutable;
using Microsoft.CodeAnalysis;

namespace AttributeLock.Generators.Tests.Helpers;

/// <summary>What one generator run produced.</summary>
/// <param name="Compilation">The user code plus the generated files.</param>
/// <param name="GeneratorDiagnostics">The generator's diagnostics.</param>
/// <param name="Sources">The generated files.</param>
internal sealed record GeneratorOutcome(Compilation Compilation, ImmutableArray<Diagnostic> GeneratorDiagnostics, ImmutableArray<GeneratedSourceResult> Sources)
{
    /// <summary>Asserts the whole compilation, generated code included, has no warning or error.</summary>
    public void AssertCompilesCleanly()
    {
        Assert.Empty(GeneratorDiagnostics);
        var problems = Compilation.GetDiagnostics().Where(d => d.Severity >= DiagnosticSeverity.Warning).ToList();
        Assert.True(problems.Count == 0, "The compilation has problems:\n" + string.Join("\n", problems) + "\n\n" + AllSources());
    }

    /// <summary>All generated files as one text, each headed by its hint name (Verify's source generator format).</summary>
    public string AllSources()
        => string.Join("\n", Sources.Select(s => "//HintName: " + s.HintName + "\n" + s.SourceText.ToString()));
}
