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
    public Task Brace_placeholder_becomes_angle_brackets() => AssertFix(
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
    public Task Non_partial_type_becomes_partial() => AssertFix(
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
    public Task Method_with_body_becomes_partial_declaration_plus_Core() => AssertFix(
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
    public Task Missing_Core_is_added() => AssertFix(
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

    [Fact]
    public Task Missing_CancellationToken_is_added_to_the_method_and_its_Core() => AssertFix(
        "AL0019",
        """
        public partial class Svc(IEtcdLockProvider locks)
        {
            [EtcdLock("/orders/<id>")]
            public partial Task<int> ShipAsync(int id);

            private Task<int> ShipAsyncCore(int id) => Task.FromResult(id);
        }
        """,
        """
        public partial class Svc(IEtcdLockProvider locks)
        {
            [EtcdLock("/orders/<id>")]
            public partial Task<int> ShipAsync(int id, CancellationToken cancellationToken = default);

            private Task<int> ShipAsyncCore(int id, CancellationToken cancellationToken) => Task.FromResult(id);
        }
        """);

    [Fact]
    public Task Leader_without_a_stopping_token_gets_one_in_the_method_and_its_Core() => AssertFix(
        "AL0023",
        """
        public partial class Svc(IEtcdLockProvider locks)
        {
            [EtcdLeader("/leaders/<region>")]
            public partial Task RunAsync(string region);

            private Task RunAsyncCore(string region) => Task.CompletedTask;
        }
        """,
        """
        public partial class Svc(IEtcdLockProvider locks)
        {
            [EtcdLeader("/leaders/<region>")]
            public partial Task RunAsync(string region, CancellationToken cancellationToken = default);

            private Task RunAsyncCore(string region, CancellationToken cancellationToken) => Task.CompletedTask;
        }
        """);

    [Fact]
    public Task Missing_Core_is_added_for_a_semaphore() => AssertFix(
        "AL0012",
        """
        public partial class Svc(IEtcdLockProvider locks)
        {
            [EtcdSemaphore("/reports/<kind>", MaxCount = 2)]
            public partial Task<int> BuildAsync(string kind, CancellationToken ct);
        }
        """,
        """
        public partial class Svc(IEtcdLockProvider locks)
        {
            [EtcdSemaphore("/reports/<kind>", MaxCount = 2)]
            public partial Task<int> BuildAsync(string kind, CancellationToken ct);

            private Task<int> BuildAsyncCore(string kind, CancellationToken ct) => global::System.Threading.Tasks.Task.FromResult<int>(default!);
        }
        """);

    [Fact]
    public Task Missing_CancellationToken_goes_before_params_with_a_free_name() => AssertFix(
        "AL0019",
        """
        public static partial class Jobs
        {
            private static readonly IEtcdLockProvider Locks = null!;

            [EtcdLock("/tags/<cancellationToken>")]
            public static partial ValueTask TagAsync(string cancellationToken, params string[] tags);

            private static ValueTask TagAsyncCore(string name, params string[] tags) => default;
        }
        """,
        """
        public static partial class Jobs
        {
            private static readonly IEtcdLockProvider Locks = null!;

            [EtcdLock("/tags/<cancellationToken>")]
            public static partial ValueTask TagAsync(string cancellationToken, CancellationToken cancellationToken2 = default, params string[] tags);

            private static ValueTask TagAsyncCore(string name, CancellationToken cancellationToken2, params string[] tags) => default;
        }
        """);

    [Fact]
    public Task Missing_CancellationToken_reaches_a_Core_in_another_file() => AssertFix(
        "AL0019",
        [
            """
            public partial class Svc(IEtcdLockProvider locks)
            {
                [EtcdLock("/orders/<id>")]
                public partial Task ShipAsync(int id);
            }
            """,
            """
            public partial class Svc
            {
                private Task ShipAsyncCore(int id) => Task.CompletedTask;
            }
            """,
        ],
        [
            """
            public partial class Svc(IEtcdLockProvider locks)
            {
                [EtcdLock("/orders/<id>")]
                public partial Task ShipAsync(int id, CancellationToken cancellationToken = default);
            }
            """,
            """
            public partial class Svc
            {
                private Task ShipAsyncCore(int id, CancellationToken cancellationToken) => Task.CompletedTask;
            }
            """,
        ]);

    private static Task AssertFix(string id, string before, string after) => AssertFix(id, [before], [after]);

    /// <summary>
    /// Applies the one fix offered for <paramref name="id"/>, reported in the first file, and compares every file
    /// with <paramref name="after"/>; the result must generate and compile cleanly, without that diagnostic.
    /// </summary>
    private static async Task AssertFix(string id, string[] before, string[] after)
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
        var documents = new List<Document>();
        for (int i = 0; i < before.Length; i++)
        {
            documents.Add(workspace.AddDocument(project.Id, $"User{i}.cs", SourceText.From(TestCompilation.Usings + before[i])));
        }

        // Each AddDocument makes a new solution: take the first document from the one that has them all.
        Document document = workspace.CurrentSolution.GetDocument(documents[0].Id)!;

        // The IDE maps a generator's diagnostic to the document; do the same here.
        var (_, all) = await TestCompilation.RunWithAnalyzerAsync([.. before.Select(b => TestCompilation.Usings + b)]);
        Diagnostic reported = Assert.Single(all, d => d.Id == id);
        Assert.Equal("User0.cs", reported.Location.GetLineSpan().Path);
        SyntaxTree tree = (await document.GetSyntaxTreeAsync())!;
        Diagnostic diagnostic = Diagnostic.Create(reported.Descriptor, Location.Create(tree, reported.Location.SourceSpan), reported.Properties, "x", "y", "z");

        var actions = new List<CodeAction>();
        var provider = new EtcdLockCodeFixProvider();
        Assert.Contains(id, provider.FixableDiagnosticIds);
        await provider.RegisterCodeFixesAsync(new CodeFixContext(document, diagnostic, (action, _) => actions.Add(action), CancellationToken.None));
        CodeAction fix = Assert.Single(actions);

        ApplyChangesOperation change = (await fix.GetOperationsAsync(CancellationToken.None)).OfType<ApplyChangesOperation>().Single();
        var fixedTexts = new List<string>();
        foreach (Document original in documents)
        {
            fixedTexts.Add((await change.ChangedSolution.GetDocument(original.Id)!.GetTextAsync()).ToString());
        }

        Assert.Equal(after.Select(a => (TestCompilation.Usings + a).ReplaceLineEndings("\n")), fixedTexts.Select(t => t.ReplaceLineEndings("\n")));
        var (fixedOutcome, fixedDiagnostics) = await TestCompilation.RunWithAnalyzerAsync([.. fixedTexts]);
        Assert.DoesNotContain(fixedDiagnostics, d => d.Id == id);
        fixedOutcome.AssertCompilesCleanly();
    }
}
