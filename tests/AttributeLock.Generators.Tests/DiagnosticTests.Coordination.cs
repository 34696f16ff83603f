using Microsoft.CodeAnalysis;

namespace AttributeLock.Generators.Tests;

/// <summary>
/// The diagnostics of [EtcdSemaphore], [EtcdReadLock], [EtcdWriteLock] and [EtcdLeader] (AL0021 to AL0025), and the
/// existing rules applied to them, with messages naming the attribute used.
/// </summary>
public sealed partial class DiagnosticTests
{
    private static string Semaphore(string arguments) => $$"""
        public partial class Svc(IEtcdLockProvider locks)
        {
            [{{arguments}}]
            public partial Task<int> BuildAsync(string kind, CancellationToken ct);

            private Task<int> BuildAsyncCore(string kind, CancellationToken ct) => Task.FromResult(1);
        }
        """;

    // AL0021
    [Theory]
    [InlineData("""{|AL0021:EtcdSemaphore|}("/reports/<kind>")""", "MaxCount is not set")]
    [InlineData("""{|AL0021:EtcdSemaphore|}("/reports/<kind>", Ttl = 5)""", "MaxCount is not set")]
    [InlineData("""{|AL0021:EtcdSemaphoreAttribute|}("/reports/<kind>")""", "MaxCount is not set")]
    [InlineData("""EtcdSemaphore("/reports/<kind>", {|AL0021:MaxCount = 0|})""", "MaxCount is 0")]
    [InlineData("""EtcdSemaphore("/reports/<kind>", Ttl = 5, {|AL0021:MaxCount = -3|})""", "MaxCount is -3")]
    public async Task Semaphore_without_a_positive_MaxCount_is_reported(string attribute, string start)
    {
        var diagnostics = await AssertDiagnostics(Semaphore(attribute), DiagnosticSeverity.Error);
        Assert.StartsWith(start + "; set it to how many calls", diagnostics[0].GetMessage(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("""EtcdSemaphore("/reports/<kind>", MaxCount = 1)""")]
    [InlineData("""EtcdSemaphore("/reports/<kind>", MaxCount = 3, Ttl = 10, WhenBusy = LockBusyBehavior.Skip)""")]
    public void Semaphore_with_a_positive_MaxCount_is_clean(string attribute) => AssertClean(Semaphore(attribute));

    // AL0022
    [Theory]
    [InlineData("ValueTask", "System.Threading.Tasks.ValueTask")]
    [InlineData("Task<int>", "System.Threading.Tasks.Task<int>")]
    [InlineData("ValueTask<int>", "System.Threading.Tasks.ValueTask<int>")]
    public async Task Leader_not_returning_Task_is_reported_on_the_return_type(string returnType, string shown)
    {
        var diagnostics = await AssertDiagnostics(
            $$"""
            public partial class Svc(IEtcdLockProvider locks)
            {
                [EtcdLeader("/leaders/x")]
                public partial {|AL0022:{{returnType}}|} RunAsync(CancellationToken stoppingToken);

                private {{returnType}} RunAsyncCore(CancellationToken stoppingToken) => throw null!;
            }
            """,
            DiagnosticSeverity.Error);
        Assert.StartsWith($"'RunAsync' returns '{shown}'; an [EtcdLeader] method returns System.Threading.Tasks.Task", diagnostics[0].GetMessage(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Leader_returning_void_is_AL0022_not_AL0016()
    {
        var (_, all) = await TestCompilation.RunWithAnalyzerAsync(TestCompilation.Usings + """
            public partial class Svc(IEtcdLockProvider locks)
            {
                [EtcdLeader("/leaders/x")]
                private partial void Run(CancellationToken stoppingToken);

                private void RunCore(CancellationToken stoppingToken) { }
            }
            """);
        Assert.Equal(["AL0022"], all.Select(d => d.Id));
    }

    // AL0023
    [Fact]
    public async Task Leader_without_a_stopping_token_is_reported_on_the_parameter_list()
    {
        var diagnostics = await AssertDiagnostics(
            """
            public partial class Svc(IEtcdLockProvider locks)
            {
                [EtcdLeader("/leaders/<region>")]
                public partial Task RunAsync{|AL0023:(string region)|};

                private Task RunAsyncCore(string region) => Task.CompletedTask;
            }
            """,
            DiagnosticSeverity.Error);
        Assert.StartsWith("'RunAsync' has no CancellationToken parameter: an [EtcdLeader] method needs the stopping token", diagnostics[0].GetMessage(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Leader_without_a_token_gets_AL0023_and_not_the_lock_warning_AL0019()
    {
        var (_, all) = await TestCompilation.RunWithAnalyzerAsync(TestCompilation.Usings + """
            public partial class Svc(IEtcdLockProvider locks)
            {
                [EtcdLeader("/leaders/x")]
                public partial Task RunAsync();

                private Task RunAsyncCore() => Task.CompletedTask;
            }
            """);
        Assert.Equal(["AL0023"], all.Select(d => d.Id));
    }

    [Fact]
    public void Leader_with_a_stopping_token_and_other_parameters_is_clean() => AssertClean("""
        public partial class Svc(IEtcdLockProvider locks)
        {
            [EtcdLeader("/leaders/<region>", Ttl = 10)]
            public partial Task RunAsync(string region, CancellationToken stoppingToken);

            private Task RunAsyncCore(string region, CancellationToken leading) => Task.Delay(1, leading);
        }
        """);

    // AL0024
    [Fact]
    public async Task Several_coordination_attributes_are_reported_on_each_one_after_the_first()
    {
        string source = """
            public partial class Svc(IEtcdLockProvider locks)
            {
                [EtcdLock("/orders/<id>")]
                [{|AL0024:EtcdSemaphore|}("/orders/<id>", MaxCount = 2), {|AL0024:EtcdLeader|}("/orders")]
                public partial Task ShipAsync(int id, CancellationToken ct);

                private Task ShipAsyncCore(int id, CancellationToken ct) => Task.CompletedTask;
            }
            """;
        var diagnostics = await AssertDiagnostics(source, DiagnosticSeverity.Error);
        Assert.Equal(
            "'ShipAsync' already has [EtcdLock]; [EtcdSemaphore] cannot be combined with it: a method takes one of [EtcdLock], [EtcdSemaphore], [EtcdReadLock], [EtcdWriteLock] and [EtcdLeader]",
            diagnostics[0].GetMessage());

        // One implementation (the throwing stub) from the first attribute's pipeline, none from the others: no CS0757/CS8795.
        GeneratorOutcome outcome = TestCompilation.Run(TestCompilation.Usings + Markup.Parse(source).Source);
        string generated = Assert.Single(outcome.Sources).SourceText.ToString();
        Assert.Contains("throw new global::System.InvalidOperationException(", generated, StringComparison.Ordinal);
        Assert.Contains("error AL0024", generated, StringComparison.Ordinal);
        Assert.Empty(outcome.Compilation.GetDiagnostics().Where(d => d.Severity == DiagnosticSeverity.Error));
    }

    [Fact]
    public Task First_attribute_in_source_order_owns_the_method_whatever_its_kind() => AssertDiagnostics(
        """
        public partial class Svc(IEtcdLockProvider locks)
        {
            [EtcdWriteLock("/catalog")]
            [{|AL0024:EtcdLock|}("/catalog/x")]
            public partial Task ShipAsync(CancellationToken ct);

            private Task ShipAsyncCore(CancellationToken ct) => Task.CompletedTask;
        }
        """,
        DiagnosticSeverity.Error);

    // AL0025
    [Theory]
    [InlineData("EtcdReadLock")]
    [InlineData("EtcdWriteLock")]
    public async Task Template_shared_by_a_lock_and_a_reader_writer_lock_is_a_warning_on_both(string readerWriter)
    {
        var diagnostics = await AssertDiagnostics(
            $$"""
            public partial class Catalog(IEtcdLockProvider locks)
            {
                [EtcdLock({|AL0025:"/catalog/<id>"|})]
                public partial Task RebuildAsync(int id, CancellationToken ct);

                [{{readerWriter}}({|AL0025:"/catalog/<id>"|}, Ttl = 5)]
                public partial Task<int> ReadAsync(int id, CancellationToken ct);

                [EtcdLock("/catalog/<id>/other")]
                public partial Task OtherAsync(int id, CancellationToken ct);

                private Task RebuildAsyncCore(int id, CancellationToken ct) => Task.CompletedTask;

                private Task<int> ReadAsyncCore(int id, CancellationToken ct) => Task.FromResult(id);

                private Task OtherAsyncCore(int id, CancellationToken ct) => Task.CompletedTask;
            }
            """,
            DiagnosticSeverity.Warning);
        Assert.Equal(
            $"The key template \"/catalog/<id>\" of the [EtcdLock] method 'Catalog.RebuildAsync' is also used by the [{readerWriter}] method 'Catalog.ReadAsync'; a plain lock and a reader-writer lock are different keys in etcd, so these methods do not exclude each other",
            diagnostics[0].GetMessage());
        Assert.Equal(
            $"The key template \"/catalog/<id>\" of the [{readerWriter}] method 'Catalog.ReadAsync' is also used by the [EtcdLock] method 'Catalog.RebuildAsync'; a plain lock and a reader-writer lock are different keys in etcd, so these methods do not exclude each other",
            diagnostics[1].GetMessage());
    }

    [Fact]
    public async Task Template_shared_across_files_is_reported_in_each()
    {
        var (_, all) = await TestCompilation.RunWithAnalyzerAsync(
            TestCompilation.Usings + """
                public partial class A(IEtcdLockProvider locks)
                {
                    [EtcdLock("/shared")]
                    public partial Task RunAsync(CancellationToken ct);

                    private Task RunAsyncCore(CancellationToken ct) => Task.CompletedTask;
                }
                """,
            TestCompilation.Usings + """
                public partial class B(IEtcdLockProvider locks)
                {
                    [EtcdReadLock("/shared")]
                    public partial Task RunAsync(CancellationToken ct);

                    private Task RunAsyncCore(CancellationToken ct) => Task.CompletedTask;
                }
                """);
        Assert.Equal(["AL0025 User0.cs", "AL0025 User1.cs"], all.Select(d => d.Id + " " + d.Location.GetLineSpan().Path));
    }

    [Fact]
    public void Readers_and_writers_sharing_a_template_and_semaphores_and_leaders_are_clean() => AssertClean("""
        public partial class Catalog(IEtcdLockProvider locks)
        {
            [EtcdReadLock("/catalog/<id>")]
            public partial Task<int> ReadAsync(int id, CancellationToken ct);

            [EtcdWriteLock("/catalog/<id>")]
            public partial Task WriteAsync(int id, CancellationToken ct);

            [EtcdSemaphore("/catalog/<id>", MaxCount = 2)]
            public partial Task LimitAsync(int id, CancellationToken ct);

            [EtcdLeader("/catalog/<id>")]
            public partial Task LeadAsync(int id, CancellationToken ct);

            [EtcdLock("/catalog/<id>/lock")]
            public partial Task LockAsync(int id, CancellationToken ct);

            private Task<int> ReadAsyncCore(int id, CancellationToken ct) => Task.FromResult(id);

            private Task WriteAsyncCore(int id, CancellationToken ct) => Task.CompletedTask;

            private Task LimitAsyncCore(int id, CancellationToken ct) => Task.CompletedTask;

            private Task LeadAsyncCore(int id, CancellationToken ct) => Task.CompletedTask;

            private Task LockAsyncCore(int id, CancellationToken ct) => Task.CompletedTask;
        }
        """);

    // The existing rules, for each new attribute, with the attribute named where the message names one.
    [Theory]
    [InlineData("EtcdSemaphore(\"/o/<{|AL0002:idd|}>\", MaxCount = 2)")]
    [InlineData("EtcdReadLock(\"/o/{|AL0005:{id}|}\")")]
    [InlineData("EtcdWriteLock(\"/o\", Ttl = {|AL0008:0|})")]
    [InlineData("EtcdReadLock(\"/o\", WaitTimeoutMilliseconds = {|AL0009:-2|})")]
    [InlineData("EtcdLeader(\"/o/<{|AL0002:idd|}>\")")]
    [InlineData("EtcdLeader({|AL0001:\"\"|})")]
    public Task Template_and_option_rules_apply_to_every_attribute(string attribute) => AssertDiagnostics(
        $$"""
        public partial class Svc(IEtcdLockProvider locks)
        {
            [{{attribute}}]
            public partial Task ShipAsync(int id, CancellationToken ct);

            private Task ShipAsyncCore(int id, CancellationToken ct) => Task.CompletedTask;
        }
        """,
        DiagnosticSeverity.Error);

    [Theory]
    [InlineData("EtcdSemaphore(\"/o\", MaxCount = 2)", "EtcdSemaphore")]
    [InlineData("EtcdReadLock(\"/o\")", "EtcdReadLock")]
    [InlineData("EtcdWriteLock(\"/o\")", "EtcdWriteLock")]
    [InlineData("EtcdLeader(\"/o\")", "EtcdLeader")]
    public async Task Type_and_Core_messages_name_the_attribute_used(string attribute, string name)
    {
        var (_, notPartial) = await TestCompilation.RunWithAnalyzerAsync(TestCompilation.Usings + $$"""
            public class Svc(IEtcdLockProvider locks)
            {
                [{{attribute}}]
                public partial Task ShipAsync(CancellationToken ct);

                private Task ShipAsyncCore(CancellationToken ct) => Task.CompletedTask;
            }
            """);
        Assert.Equal($"'Svc' must be declared 'partial' because it contains the [{name}] method 'ShipAsync'", notPartial.Single(d => d.Id == DiagnosticIds.TypeNotPartial).GetMessage());

        var (_, mismatch) = await TestCompilation.RunWithAnalyzerAsync(TestCompilation.Usings + $$"""
            public partial class Svc(IEtcdLockProvider locks)
            {
                [{{attribute}}]
                public partial Task ShipAsync(CancellationToken ct);

                private Task ShipAsyncCore(long id, CancellationToken ct) => Task.CompletedTask;
            }
            """);
        Assert.Equal($"'ShipAsyncCore' does not match the [{name}] method 'ShipAsync': its parameters are (long, System.Threading.CancellationToken), expected (System.Threading.CancellationToken)", Assert.Single(mismatch).GetMessage());
    }

    [Theory]
    [InlineData("EtcdSemaphore(\"/o\", MaxCount = 2)", "EtcdSemaphore")]
    [InlineData("EtcdReadLock(\"/o\")", "EtcdReadLock")]
    [InlineData("EtcdWriteLock(\"/o\")", "EtcdWriteLock")]
    public async Task Unsupported_return_type_names_the_attribute_used(string attribute, string name)
    {
        var diagnostics = await AssertDiagnostics(
            $$"""
            public partial class Svc(IEtcdLockProvider locks)
            {
                [{{attribute}}]
                public partial {|AL0016:int|} Run(CancellationToken ct);

                private int RunCore(CancellationToken ct) => 0;
            }
            """,
            DiagnosticSeverity.Error);
        Assert.StartsWith($"'Run' returns 'int', which an [{name}] method cannot: ", diagnostics[0].GetMessage(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("EtcdSemaphore(\"/o\", MaxCount = 2)")]
    [InlineData("EtcdReadLock(\"/o\")")]
    [InlineData("EtcdWriteLock(\"/o\")")]
    [InlineData("EtcdLeader(\"/o\")")]
    public Task Missing_Core_provider_and_direct_Core_use_apply_to_every_attribute(string attribute) => AssertDiagnostics(
        $$"""
        public partial class NoCore(IEtcdLockProvider locks)
        {
            [{{attribute}}]
            public partial Task {|AL0012:RunAsync|}(CancellationToken ct);
        }

        public partial class NoProvider
        {
            [{{attribute}}]
            public partial Task {|AL0014:RunAsync|}(CancellationToken ct);

            private Task RunAsyncCore(CancellationToken ct) => Task.CompletedTask;
        }

        public partial class Sneaky(IEtcdLockProvider locks)
        {
            [{{attribute}}]
            public partial Task RunAsync(CancellationToken ct);

            private Task RunAsyncCore(CancellationToken ct) => Task.CompletedTask;

            public Task Bypass() => {|AL0018:RunAsyncCore|}(default);
        }
        """,
        DiagnosticSeverity.Error);

    [Theory]
    [InlineData("EtcdSemaphore(\"/o\", MaxCount = 2)")]
    [InlineData("EtcdReadLock(\"/o\")")]
    [InlineData("EtcdWriteLock(\"/o\", WhenBusy = LockBusyBehavior.Skip)")]
    public Task Lock_attributes_without_a_token_get_AL0019(string attribute) => AssertDiagnostics(
        $$"""
        public partial class Svc(IEtcdLockProvider locks)
        {
            [{{attribute}}]
            public partial Task {|AL0019:RunAsync|}();

            private Task RunAsyncCore() => Task.CompletedTask;
        }
        """,
        DiagnosticSeverity.Warning);
}
