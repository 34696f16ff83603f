using AttributeLock.CodeFixes;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CodeActions;
using Microsoft.CodeAnalysis.CodeFixes;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.Text;

namespace AttributeLock.Generators.Tests;

/// <summary>Each code fix turns the reported code into code that generates and compiles cleanly.</summary>
public sealed class CodeFixTests
{
    [Fact]
    public Task BracePlaceholder_BecomesAngleBrackets() => AssertFix(
        "AL0005",
        """
        public partial class Svc(IEtcdLockProvider locks)
        {
            [EtcdLock("/orders/{id}")]
            public partial Task ShipAsync(int id);

            private Task ShipAsyncCore(int id) => Task.CompletedTask;
        }
        """,
        """
        public partial class Svc(IEtcdLockProvider locks)
        {
            [EtcdLock("/orders/<id>")]
            public partial Task ShipAsync(int id);

            private Task ShipAsyncCore(int id) => Task.CompletedTask;
        }
        """);

    [Fact]
    public Task NonPartialType_BecomesPartial() => AssertFix(
        "AL0011",
        """
        public static class Outer
        {
            public partial class Svc(IEtcdLockProvider locks)
            {
                [EtcdLock("/o")]
                public partial Task ShipAsync();

                private Task ShipAsyncCore() => Task.CompletedTask;
            }
        }
        """,
        """
        public static partial class Outer
        {
            public partial class Svc(IEtcdLockProvider locks)
            {
                [EtcdLock("/o")]
                public partial Task ShipAsync();

                private Task ShipAsyncCore() => Task.CompletedTask;
            }
        }
        """);

    [Fact]
    public Task MethodWithBody_BecomesPartialDeclarationPlusCore() => AssertFix(
        "AL0010",
        """
        public partial class Svc(IEtcdLockProvider locks)
        {
            [EtcdLock("/orders/<id>")]
            public async Task<int> ShipAsync(int id, CancellationToken ct)
            {
                await Task.Delay(1, ct);
                return id;
            }
        }
        """,
        """
        public partial class Svc(IEtcdLockProvider locks)
        {
            [EtcdLock("/orders/<id>")]
            public partial Task<int> ShipAsync(int id, CancellationToken ct);

            private async Task<int> ShipAsyncCore(int id, CancellationToken ct)
            {
                await Task.Delay(1, ct);
                return id;
            }
        }
        """);

    [Fact]
    public Task MissingCore_IsAdded() => AssertFix(
        "AL0012",
        """
        public partial class Svc(IEtcdLockProvider locks)
        {
            [EtcdLock("/orders/<id>")]
            public partial Task<string?> ShipAsync(int id, CancellationToken ct);
        }
        """,
        """
        public partial class Svc(IEtcdLockProvider locks)
        {
            [EtcdLock("/orders/<id>")]
            public partial Task<string?> ShipAsync(int id, CancellationToken ct);

            private Task<string?> ShipAsyncCore(int id, CancellationToken ct) => global::System.Threading.Tasks.Task.FromResult<string?>(default!);
        }
        """);

    private static async Task AssertFix(string id, string before, string after)
    {
        using var workspace = new AdhocWorkspace();
        Project project = workspace.AddProject(ProjectInfo.Create(
            ProjectId.CreateNewId(),
            VersionStamp.Create(),
            "User",
            "User",
            LanguageNames.CSharp,
            compilationOptions: new CSharpCompilationOptions(OutputKind.DynamicallyLinkedLibrary, nullableContextOptions: NullableContextOptions.Enable),
            parseOptions: TestCompilation.ParseOptions,
            metadataReferences: TestCompilation.MetadataReferences));
        Document document = workspace.AddDocument(project.Id, "User0.cs", SourceText.From(TestCompilation.Usings + before));

        // The IDE maps a generator's diagnostic to the document; do the same here.
        GeneratorOutcome outcome = TestCompilation.Run(TestCompilation.Usings + before);
        Diagnostic reported = Assert.Single(outcome.GeneratorDiagnostics, d => d.Id == id);
        SyntaxTree tree = (await document.GetSyntaxTreeAsync())!;
        Diagnostic diagnostic = Diagnostic.Create(reported.Descriptor, Location.Create(tree, reported.Location.SourceSpan), reported.Properties, "x", "y", "z");

        var actions = new List<CodeAction>();
        var provider = new EtcdLockCodeFixProvider();
        Assert.Contains(id, provider.FixableDiagnosticIds);
        await provider.RegisterCodeFixesAsync(new CodeFixContext(document, diagnostic, (action, _) => actions.Add(action), CancellationToken.None));
        CodeAction fix = Assert.Single(actions);

        ApplyChangesOperation change = (await fix.GetOperationsAsync(CancellationToken.None)).OfType<ApplyChangesOperation>().Single();
        string fixedText = (await change.ChangedSolution.GetDocument(document.Id)!.GetTextAsync()).ToString();

        Assert.Equal((TestCompilation.Usings + after).ReplaceLineEndings("\n"), fixedText.ReplaceLineEndings("\n"));
        TestCompilation.Run(fixedText).AssertCompilesCleanly();
    }
}
