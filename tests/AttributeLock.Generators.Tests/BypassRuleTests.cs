using System.Collections.Immutable;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Diagnostics;

namespace AttributeLock.Generators.Tests;

/// <summary>AL0018 (a direct call to a Core method bypasses the lock) cannot be switched off.</summary>
public sealed class BypassRuleTests
{
    // Severity options and #pragma cannot hide it (NotConfigurable). An explicit [SuppressMessage("AttributeLock", "AL0018")]
    // still can, as for any analyzer diagnostic: that is a visible, reviewable decision in the source.
    private const string Source = TestCompilation.Usings + """
        public partial class Svc(IEtcdLockProvider locks)
        {
            [EtcdLock("/o/<id>")]
            public partial Task ShipAsync(int id);

            private Task ShipAsyncCore(int id) => Task.CompletedTask;

        #pragma warning disable AL0018
            public Task Sneaky() => ShipAsyncCore(1);
        #pragma warning restore AL0018
        }
        """;

    [Fact]
    public async Task Severity_options_and_pragmas_do_not_hide_it()
    {
        GeneratorOutcome outcome = TestCompilation.Run(Source);
        Compilation compilation = outcome.Compilation.WithOptions(outcome.Compilation.Options
            .WithSpecificDiagnosticOptions(new Dictionary<string, ReportDiagnostic> { ["AL0018"] = ReportDiagnostic.Suppress })
            .WithGeneralDiagnosticOption(ReportDiagnostic.Suppress));

        ImmutableArray<Diagnostic> diagnostics = await compilation
            .WithAnalyzers([new CoreCallAnalyzer()], new CompilationWithAnalyzersOptions(
                new AnalyzerOptions([]), onAnalyzerException: null, concurrentAnalysis: false, logAnalyzerExecutionTime: false, reportSuppressedDiagnostics: true))
            .GetAnalyzerDiagnosticsAsync();

        Diagnostic d = Assert.Single(diagnostics, x => x.Id == "AL0018");
        Assert.Equal(DiagnosticSeverity.Error, d.Severity);
        Assert.False(d.IsSuppressed, "AL0018 must stay visible: it marks code that runs without the lock");
    }
}
