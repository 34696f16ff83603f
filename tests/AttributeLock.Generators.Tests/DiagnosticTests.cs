using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Text;

namespace AttributeLock.Generators.Tests;

/// <summary>
/// Every diagnostic: id, severity and exact span (marked <c>{|ALxxxx:...|}</c>), plus a counterpart that is
/// clean: no AttributeLock diagnostic, and the generated code compiles without warnings.
/// </summary>
public sealed partial class DiagnosticTests
{
    /// <summary>A service whose attribute arguments and extra members vary.</summary>
    private static string Service(string attributeArguments, string members = "") => $$"""
        public sealed class Customer
        {
            public string Name { get; set; } = "";
            public Address? Address { get; set; }
        }

        public sealed class Address
        {
            public string City = "";
        }

        public partial class Svc(IEtcdLockProvider locks)
        {
            [EtcdLock({{attributeArguments}})]
            public partial Task ShipAsync(int id, Customer customer, CancellationToken ct);

            private Task ShipAsyncCore(int id, Customer customer, CancellationToken ct) => Task.CompletedTask;
        {{members}}
        }
        """;

    // AL0001
    [Theory]
    [InlineData("""{|AL0001:""|}""")]
    [InlineData("""{|AL0001:null!|}""")]
    public Task Empty_template_is_reported(string argument) => AssertDiagnostics(Service(argument), DiagnosticSeverity.Error);

    [Fact]
    public void Non_empty_template_is_clean() => AssertClean(Service("\"/ship\""));

    // AL0002
    [Fact]
    public async Task Unknown_placeholder_is_reported_with_closest_name()
    {
        var diagnostics = await AssertDiagnostics(Service("\"/orders/<{|AL0002:Idd|}>\""), DiagnosticSeverity.Error);
        Assert.Equal("The lock key placeholder '<Idd>' does not name a parameter of 'ShipAsync'; did you mean '<id>'?", diagnostics[0].GetMessage());
    }

    [Fact]
    public async Task Unknown_placeholder_without_close_name_lists_parameters()
    {
        var diagnostics = await AssertDiagnostics(Service("\"/orders/<{|AL0002:zzzzzz|}.Name>\""), DiagnosticSeverity.Error);
        Assert.EndsWith("its parameters are 'id', 'customer', 'ct'", diagnostics[0].GetMessage(), StringComparison.Ordinal);
    }

    [Fact]
    public void Known_placeholder_is_clean() => AssertClean(Service("\"/orders/<id>\""));

    // AL0003
    [Theory]
    [InlineData("\"/orders/{|AL0003:<id|}\"", "it has no closing '>'")]
    [InlineData("\"/orders/{|AL0003:<id/|}<customer.Name>\"", "it has no closing '>'")]
    [InlineData("\"/orders/{|AL0003:<>|}\"", "it names nothing")]
    [InlineData("\"/orders/{|AL0003:<a b>|}\"", "'a b' is not a parameter name")]
    [InlineData("\"/orders/{|AL0003:<id.>|}\"", "'id.' is not a parameter name")]
    public async Task Malformed_placeholder_is_reported(string argument, string reason)
    {
        var diagnostics = await AssertDiagnostics(Service(argument), DiagnosticSeverity.Error);
        Assert.Contains(reason, diagnostics[0].GetMessage(), StringComparison.Ordinal);
    }

    [Fact]
    public void Angle_brackets_around_names_are_clean() => AssertClean(Service("\"/orders/<id>-<customer.Name>/x>y\""));

    // AL0004
    [Fact]
    public async Task Missing_member_is_reported_naming_it()
    {
        var diagnostics = await AssertDiagnostics(Service("\"/c/<customer.Address.{|AL0004:Town|}>\""), DiagnosticSeverity.Error);
        Assert.Equal("The lock key placeholder '<customer.Address.Town>' cannot be resolved: 'Address' has no readable instance property or field named 'Town'", diagnostics[0].GetMessage());
    }

    [Fact]
    public void Member_path_is_clean() => AssertClean(Service("\"/c/<customer.Address.City>/<customer.Name.Length>\""));

    // AL0005
    [Fact]
    public async Task Brace_placeholder_is_reported()
    {
        var diagnostics = await AssertDiagnostics(Service("\"/orders/{|AL0005:{id}|}/<{|AL0002:od|}>\""), DiagnosticSeverity.Error);
        Assert.Equal("'{id}' in the lock key template is literal text, not a placeholder; write '<id>'", diagnostics[0].GetMessage());
    }

    [Fact]
    public void Braces_that_are_not_names_are_clean() => AssertClean(Service("\"/orders/{ <id> }/{}\""));

    // AL0006
    [Theory]
    [InlineData("\"/c/<{|AL0006:customer|}>\"")]
    [InlineData("\"/c/<{|AL0006:customer.Address|}>\"")]
    [InlineData("\"/c/<{|AL0006:ct|}>\"")]
    public Task Placeholder_without_invariant_text_is_reported(string argument) => AssertDiagnostics(Service(argument), DiagnosticSeverity.Error);

    [Fact]
    public Task Placeholder_of_record_or_unconstrained_type_parameter_is_reported() => AssertDiagnostics(
        """
        public sealed record Point(int X, int Y);

        public partial class Svc(IEtcdLockProvider locks)
        {
            [EtcdLock("/p/<{|AL0006:point|}>")]
            public partial Task MoveAsync(Point point);

            [EtcdLock("/t/<{|AL0006:value|}>")]
            public partial Task PutAsync<T>(T value);

            private Task MoveAsyncCore(Point point) => Task.CompletedTask;

            private Task PutAsyncCore<T>(T value) => Task.CompletedTask;
        }
        """,
        DiagnosticSeverity.Error);

    [Fact]
    public void Placeholder_types_with_invariant_text_are_clean() => AssertClean("""
        public enum Color { Red }

        public sealed class Sku
        {
            public override string ToString() => "sku";
        }

        public partial class Svc(IEtcdLockProvider locks)
        {
            [EtcdLock("/<a>/<b>/<c>/<d>/<e>/<f>/<g>/<h>/<i>/<j>/<k>/<l>/<m>/<n>")]
            public partial Task RunAsync<T>(string a, char b, bool c, byte d, ulong e, double f, decimal g, Guid h, DateTimeOffset i, TimeSpan j, Color k, int? l, Sku m, T n)
                where T : IFormattable;

            private Task RunAsyncCore<T>(string a, char b, bool c, byte d, ulong e, double f, decimal g, Guid h, DateTimeOffset i, TimeSpan j, Color k, int? l, Sku m, T n)
                where T : IFormattable
                => Task.CompletedTask;
        }
        """);

    // AL0007
    [Theory]
    [InlineData("\"{|AL0007:orders/<id>|}\"")]
    [InlineData("@\"{|AL0007:orders/<id>|}\"")]
    public async Task Template_without_slash_is_a_warning_and_still_generates(string argument)
    {
        var diagnostics = await AssertDiagnostics(Service(argument), DiagnosticSeverity.Warning);
        Assert.Equal("The lock key template \"orders/<id>\" does not start with '/'; keys are paths such as \"/orders/<id>\"", diagnostics[0].GetMessage());
        Assert.Single(TestCompilation.Run(TestCompilation.Usings + Markup.Parse(Service(argument)).Source).Sources);
    }

    [Fact]
    public void Template_with_slash_is_clean() => AssertClean(Service("\"/orders/<id>\""));

    // AL0008
    [Theory]
    [InlineData("\"/o\", Ttl = {|AL0008:0|}")]
    [InlineData("\"/o\", Ttl = {|AL0008:-5|}")]
    public Task Invalid_ttl_is_reported(string arguments) => AssertDiagnostics(Service(arguments), DiagnosticSeverity.Error);

    [Theory]
    [InlineData("\"/o\", Ttl = 1")]
    [InlineData("\"/o\"")]
    public void Valid_ttl_is_clean(string arguments) => AssertClean(Service(arguments));

    // AL0009
    [Fact]
    public Task Invalid_wait_timeout_is_reported() => AssertDiagnostics(Service("\"/o\", WaitTimeoutMilliseconds = {|AL0009:-2|}"), DiagnosticSeverity.Error);

    [Theory]
    [InlineData("\"/o\", WaitTimeoutMilliseconds = -1")]
    [InlineData("\"/o\", WaitTimeoutMilliseconds = 0")]
    [InlineData("\"/o\", WaitTimeoutMilliseconds = 1500")]
    public void Valid_wait_timeout_is_clean(string arguments) => AssertClean(Service(arguments));

    // AL0020
    [Theory]
    [InlineData("\"/o\", HoldAtLeastMilliseconds = {|AL0020:-1|}")]
    [InlineData("\"/o\", WhenBusy = LockBusyBehavior.Skip, HoldAtLeastMilliseconds = {|AL0020:int.MinValue|}")]
    public Task Invalid_minimum_hold_is_reported_on_its_argument(string arguments) => AssertDiagnostics(Service(arguments), DiagnosticSeverity.Error);

    [Theory]
    [InlineData("\"/o\", HoldAtLeastMilliseconds = 0")]
    [InlineData("\"/o\", HoldAtLeastMilliseconds = 1")]
    [InlineData("\"/o\", WhenBusy = LockBusyBehavior.Skip, HoldAtLeastMilliseconds = int.MaxValue")]
    public void Valid_minimum_hold_is_clean(string arguments) => AssertClean(Service(arguments));

    // AL0010
    [Fact]
    public Task Non_partial_method_is_reported() => AssertDiagnostics(
        """
        public partial class Svc(IEtcdLockProvider locks)
        {
            [EtcdLock("/o")]
            public Task {|AL0010:ShipAsync|}() => Task.CompletedTask;

            private Task ShipAsyncCore() => Task.CompletedTask;
        }
        """,
        DiagnosticSeverity.Error);

    [Fact]
    public void Partial_method_is_clean() => AssertClean(Service("\"/o\""));

    [Fact]
    public Task Attribute_on_hand_written_implementation_is_reported() => AssertDiagnostics(
        """
        public partial class Svc(IEtcdLockProvider locks)
        {
            public partial Task ShipAsync();

            [EtcdLock("/o")]
            public partial Task {|AL0010:ShipAsync|}() => Task.CompletedTask;

            private Task ShipAsyncCore() => Task.CompletedTask;
        }
        """,
        DiagnosticSeverity.Error);

    [Fact]
    public void Member_paths_through_type_parameters_structs_and_interfaces_are_clean() => AssertClean("""
        public interface IHasId
        {
            int Id { get; }
        }

        public interface IEntity : IHasId
        {
        }

        public partial class Svc(IEtcdLockProvider locks)
        {
            [EtcdLock("/e/<item.Id>/<entity.Id>/<day.Year>/<name.Length>")]
            public partial Task SaveAsync<T>(T item, IEntity entity, DateOnly day, string? name)
                where T : IHasId;

            private Task SaveAsyncCore<T>(T item, IEntity entity, DateOnly day, string? name)
                where T : IHasId
                => Task.CompletedTask;
        }
        """);

    // AL0011
    [Fact]
    public Task Non_partial_containing_type_is_reported() => AssertDiagnostics(
        """
        public class {|AL0011:Outer|}
        {
            public partial class Svc(IEtcdLockProvider locks)
            {
                [EtcdLock("/o")]
                public partial Task ShipAsync();

                private Task ShipAsyncCore() => Task.CompletedTask;
            }
        }
        """,
        DiagnosticSeverity.Error);

    [Fact]
    public void Partial_containing_types_are_clean() => AssertClean("""
        public partial class Outer
        {
            public partial class Svc(IEtcdLockProvider locks)
            {
                [EtcdLock("/o")]
                public partial Task ShipAsync();

                private Task ShipAsyncCore() => Task.CompletedTask;
            }
        }
        """);

    // AL0012
    [Fact]
    public async Task Missing_Core_is_reported()
    {
        var diagnostics = await AssertDiagnostics(
            """
            public partial class Svc(IEtcdLockProvider locks)
            {
                [EtcdLock("/o")]
                public partial Task {|AL0012:ShipAsync|}(int id);
            }
            """,
            DiagnosticSeverity.Error);
        Assert.Contains("'ShipAsyncCore'", diagnostics[0].GetMessage(), StringComparison.Ordinal);
    }

    [Fact]
    public void Existing_Core_is_clean() => AssertClean(Service("\"/o\""));

    // AL0013
    [Theory]
    [InlineData("private Task {|AL0013:ShipAsyncCore|}(long id) => Task.CompletedTask;", "its parameters are (long), expected (int)")]
    [InlineData("private Task<int> {|AL0013:ShipAsyncCore|}(int id) => Task.FromResult(id);", "it returns 'System.Threading.Tasks.Task<int>', expected 'System.Threading.Tasks.Task'")]
    [InlineData("private Task {|AL0013:ShipAsyncCore|}<T>(int id) => Task.CompletedTask;", "it has 1 type parameter(s), 'ShipAsync' has 0")]
    public async Task Mismatched_Core_is_reported(string core, string reason)
    {
        var diagnostics = await AssertDiagnostics(
            $$"""
            public partial class Svc(IEtcdLockProvider locks)
            {
                [EtcdLock("/o")]
                public partial Task ShipAsync(int id);

                {{core}}
            }
            """,
            DiagnosticSeverity.Error);
        Assert.EndsWith(reason, diagnostics[0].GetMessage(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Core_of_a_void_method_is_not_told_to_return_void()
    {
        var (_, all) = await TestCompilation.RunWithAnalyzerAsync(TestCompilation.Usings + """
            public partial class Svc(IEtcdLockProvider locks)
            {
                [EtcdLock("/o")]
                private partial void Run();

                private Task RunCore() => Task.CompletedTask;
            }
            """);

        Assert.Equal(["AL0013", "AL0016"], all.Select(d => d.Id).Where(id => id != DiagnosticIds.MissingCancellationToken).Order());
        Assert.Equal(
            "'RunCore' does not match the [EtcdLock] method 'Run': it returns 'System.Threading.Tasks.Task' and 'Run' returns 'void'; both must return the same Task, Task<T>, ValueTask or ValueTask<T>",
            all.Single(d => d.Id == "AL0013").GetMessage());
    }

    [Fact]
    public Task Core_of_static_method_must_be_static_and_match() => AssertDiagnostics(
        """
        public static partial class Jobs
        {
            private static readonly IEtcdLockProvider Locks = null!;

            [EtcdLock("/o")]
            public static partial Task RunAsync();

            private static Task {|AL0013:RunAsyncCore|}(int extra) => Task.CompletedTask;
        }

        public partial class Other
        {
            private static readonly IEtcdLockProvider Locks = null!;

            [EtcdLock("/o")]
            public static partial Task RunAsync();

            private Task {|AL0013:RunAsyncCore|}() => Task.CompletedTask;
        }
        """,
        DiagnosticSeverity.Error);

    [Fact]
    public void Overloaded_Core_picks_the_matching_one() => AssertClean("""
        public partial class Svc(IEtcdLockProvider locks)
        {
            [EtcdLock("/o/<id>")]
            public partial Task ShipAsync(int id);

            private Task ShipAsyncCore(long id) => Task.CompletedTask;

            private Task ShipAsyncCore(int id) => Task.CompletedTask;
        }
        """);

    // AL0014
    [Fact]
    public async Task Missing_provider_is_reported()
    {
        var diagnostics = await AssertDiagnostics(
            """
            public partial class Svc
            {
                [EtcdLock("/o")]
                public partial Task {|AL0014:ShipAsync|}();

                private Task ShipAsyncCore() => Task.CompletedTask;
            }
            """,
            DiagnosticSeverity.Error);
        Assert.Equal("'Svc' has no field, property or primary constructor parameter of type IEtcdLockProvider for 'ShipAsync' to lock with", diagnostics[0].GetMessage());
    }

    [Fact]
    public async Task Static_method_with_instance_provider_is_reported()
    {
        var diagnostics = await AssertDiagnostics(
            """
            public partial class Svc(IEtcdLockProvider locks)
            {
                [EtcdLock("/o")]
                public static partial Task {|AL0014:ShipAsync|}();

                private static Task ShipAsyncCore() => Task.CompletedTask;
            }
            """,
            DiagnosticSeverity.Error);
        Assert.Contains("no static field", diagnostics[0].GetMessage(), StringComparison.Ordinal);
    }

    [Fact]
    public void Inherited_protected_provider_is_clean() => AssertClean("""
        public abstract class ServiceBase(IEtcdLockProvider locks)
        {
            protected IEtcdLockProvider Locks { get; } = locks;
        }

        public partial class Svc(IEtcdLockProvider locks) : ServiceBase(locks)
        {
            [EtcdLock("/o")]
            public partial Task ShipAsync();

            private Task ShipAsyncCore() => Task.CompletedTask;
        }
        """);

    // AL0015
    [Fact]
    public async Task Several_providers_are_reported()
    {
        var diagnostics = await AssertDiagnostics(
            """
            public partial class Svc
            {
                private readonly IEtcdLockProvider _primary = null!;
                private readonly IEtcdLockProvider _secondary = null!;

                [EtcdLock("/o")]
                public partial Task {|AL0015:ShipAsync|}();

                private Task ShipAsyncCore() => Task.CompletedTask;
            }
            """,
            DiagnosticSeverity.Error);
        Assert.Contains("('_primary', '_secondary')", diagnostics[0].GetMessage(), StringComparison.Ordinal);
    }

    [Fact]
    public void Field_initialized_from_primary_constructor_parameter_is_one_provider() => AssertClean("""
        public partial class Svc(IEtcdLockProvider locks)
        {
            private readonly IEtcdLockProvider _locks = locks;

            [EtcdLock("/o")]
            public partial Task ShipAsync();

            private Task ShipAsyncCore() => Task.CompletedTask;
        }
        """);

    // AL0016
    [Theory]
    [InlineData("void", "callers must be able to await the call")]
    [InlineData("int", "only Task, Task<T>, ValueTask and ValueTask<T> are supported")]
    [InlineData("System.Collections.Generic.IAsyncEnumerable<int>", "an async iterator would hold the lock between its yields")]
    public async Task Unsupported_return_type_is_reported(string returnType, string reason)
    {
        string accessibility = returnType == "void" ? "private" : "public";
        var diagnostics = await AssertDiagnostics(
            $$"""
            public partial class Svc(IEtcdLockProvider locks)
            {
                [EtcdLock("/o")]
                {{accessibility}} partial {|AL0016:{{returnType}}|} Run();

                private {{returnType}} RunCore() => throw null!;
            }
            """,
            DiagnosticSeverity.Error);
        Assert.Contains(reason, diagnostics[0].GetMessage(), StringComparison.Ordinal);
    }

    [Fact]
    public void Supported_return_types_are_clean() => AssertClean(Service("\"/o\""));

    // AL0017
    [Theory]
    [InlineData("ref int value", "passed by reference ('ref')")]
    [InlineData("out int value", "an 'out' parameter")]
    [InlineData("in int value", "passed by reference ('in')")]
    [InlineData("Span<int> value", "of the ref struct type 'System.Span<int>'")]
    public async Task Unsupported_parameter_is_reported(string parameter, string reason)
    {
        var diagnostics = await AssertDiagnostics(
            $$"""
            public partial class Svc(IEtcdLockProvider locks)
            {
                [EtcdLock("/o")]
                public partial Task Run(int id, {|AL0017:{{parameter}}|});

                private Task RunCore(int id, {{parameter}}) => throw null!;
            }
            """,
            DiagnosticSeverity.Error);
        Assert.Contains(reason, diagnostics[0].GetMessage(), StringComparison.Ordinal);
    }

    [Fact]
    public void By_value_parameters_are_clean() => AssertClean(Service("\"/o\""));

    // AL0018
    [Fact]
    public async Task Direct_Core_use_is_reported()
    {
        var diagnostics = await AssertDiagnostics(
            """
            public partial class Svc(IEtcdLockProvider locks)
            {
                [EtcdLock("/o/<id>")]
                public partial Task ShipAsync(int id);

                private Task ShipAsyncCore(int id) => Task.CompletedTask;

                public Task Sneaky() => {|AL0018:ShipAsyncCore|}(1);

                public Task Sneakier() => this.{|AL0018:ShipAsyncCore|}(2);

                public Func<int, Task> Leak() => {|AL0018:ShipAsyncCore|};

                public Task Lambda() => Task.Run(() => {|AL0018:ShipAsyncCore|}(3));
            }
            """,
            DiagnosticSeverity.Error);
        Assert.All(diagnostics, d => Assert.Contains(WellKnownDiagnosticTags.NotConfigurable, d.Descriptor.CustomTags));
        Assert.Equal("'ShipAsyncCore' runs without the lock of 'ShipAsync'; call 'ShipAsync' instead", diagnostics[0].GetMessage());
    }

    [Fact]
    public void Wrapper_calls_recursion_nameof_and_unrelated_Core_methods_are_clean() => AssertClean("""
        public partial class Svc(IEtcdLockProvider locks)
        {
            [EtcdLock("/o/<id>")]
            public partial Task ShipAsync(int id);

            private async Task ShipAsyncCore(int id)
            {
                if (id > 0)
                {
                    await ShipAsyncCore(id - 1);
                }
            }

            public Task Caller() => ShipAsync(1);

            public string Name() => nameof(ShipAsyncCore);

            public Task OtherCore() => Task.CompletedTask;

            public Task UsesOtherCore() => OtherCore();

            public Task ShipAsyncCore(string unrelatedOverload) => Task.CompletedTask;

            public Task CallsUnrelatedOverload() => ShipAsyncCore("x");
        }
        """);

    [Fact]
    public void Parameters_named_like_the_generated_locals_are_clean() => AssertClean("""
        public partial class Svc(IEtcdLockProvider locks)
        {
            [EtcdLock("/o/<__lock>/<__lockCancelled>")]
            public partial Task ShipAsync(int __lock, int __lockCancelled, CancellationToken ct);

            private Task ShipAsyncCore(int __lock, int __lockCancelled, CancellationToken ct) => Task.CompletedTask;
        }
        """);

    // AL0019
    [Fact]
    public async Task Missing_CancellationToken_is_a_warning_on_the_identifier_and_still_generates()
    {
        const string source = """
            public partial class Svc(IEtcdLockProvider locks)
            {
                [EtcdLock("/orders/<id>")]
                public partial Task {|AL0019:ShipAsync|}(int id);

                [EtcdLock("/jobs", WhenBusy = LockBusyBehavior.Skip)]
                public static partial ValueTask<int> {|AL0019:@RunAsync|}();

                private static readonly IEtcdLockProvider Static = null!;

                private Task ShipAsyncCore(int id) => Task.CompletedTask;

                private static ValueTask<int> RunAsyncCore() => default;
            }
            """;
        var diagnostics = await AssertDiagnostics(source, DiagnosticSeverity.Warning);
        Assert.Equal(
            "'ShipAsync' has no CancellationToken parameter: its wait for the lock has no time limit and cannot be cancelled, and its Core cannot observe the hold's LostToken; add a parameter 'CancellationToken cancellationToken = default' to 'ShipAsync' and its Core",
            diagnostics[0].GetMessage());
        Assert.StartsWith("'RunAsync' has no CancellationToken parameter: its wait for the lock cannot be cancelled, and", diagnostics[1].GetMessage(), StringComparison.Ordinal);
        Assert.Equal(2, TestCompilation.Run(TestCompilation.Usings + Markup.Parse(source).Source).Sources.Length);
    }

    [Fact]
    public async Task Missing_CancellationToken_can_be_suppressed_with_pragma()
    {
        var (outcome, all) = await TestCompilation.RunWithAnalyzerAsync(TestCompilation.Usings + """
            public partial class Svc(IEtcdLockProvider locks)
            {
            #pragma warning disable AL0019 // runs to its end; the wait timeout bounds the wait
                [EtcdLock("/orders/<id>", WaitTimeoutMilliseconds = 1000)]
                public partial Task ShipAsync(int id);
            #pragma warning restore AL0019

                private Task ShipAsyncCore(int id) => Task.CompletedTask;
            }
            """);

        Assert.Empty(all);
        Assert.Single(outcome.Sources);
    }

    [Theory]
    [InlineData("CancellationToken ct")]
    [InlineData("CancellationToken cancellationToken = default")]
    [InlineData("global::System.Threading.CancellationToken token, int id = 0")]
    public async Task Method_with_a_CancellationToken_has_no_AL0019(string parameters)
    {
        var (outcome, all) = await TestCompilation.RunWithAnalyzerAsync(TestCompilation.Usings + $$"""
            public partial class Svc(IEtcdLockProvider locks)
            {
                [EtcdLock("/orders")]
                public partial Task ShipAsync({{parameters}});

                private Task ShipAsyncCore({{parameters}}) => Task.CompletedTask;
            }
            """);

        Assert.Empty(all);
        outcome.AssertCompilesCleanly();
    }

    // One error per mistake: an [EtcdLock] method with an AL error still gets an implementation (one that throws), so
    // the compiler adds no CS8795 "Partial method must have an implementation part".
    [Theory]
    [InlineData("AL0002", "[EtcdLock(\"/o/<idd>\")] public partial Task ShipAsync(int id, CancellationToken ct);", "private Task ShipAsyncCore(int id, CancellationToken ct) => Task.CompletedTask;")]
    [InlineData("AL0008", "[EtcdLock(\"/o\", Ttl = 0)] public partial Task<string?> ShipAsync(int id, CancellationToken ct);", "private Task<string?> ShipAsyncCore(int id, CancellationToken ct) => Task.FromResult<string?>(null);")]
    [InlineData("AL0009", "[EtcdLock(\"/o\", WaitTimeoutMilliseconds = -2)] internal partial ValueTask<int> ShipAsync(int id, CancellationToken ct = default);", "private ValueTask<int> ShipAsyncCore(int id, CancellationToken ct) => default;")]
    [InlineData("AL0020", "[EtcdLock(\"/o\", HoldAtLeastMilliseconds = -5)] public partial Task ShipAsync(int id, CancellationToken ct);", "private Task ShipAsyncCore(int id, CancellationToken ct) => Task.CompletedTask;")]
    [InlineData("AL0012", "[EtcdLock(\"/o/<id>\")] public partial Task ShipAsync(int id, params string[] tags);", "")]
    [InlineData("AL0013", "[EtcdLock(\"/o/<id>\")] public partial Task ShipAsync(int id);", "private Task ShipAsyncCore(long id) => Task.CompletedTask;")]
    [InlineData("AL0006", "[EtcdLock(\"/o/<value>\")] public partial Task<T?> PutAsync<T>(T value) where T : class, new();", "private Task<T?> PutAsyncCore<T>(T value) where T : class, new() => Task.FromResult<T?>(value);")]
    [InlineData("AL0016", "[EtcdLock(\"/o/<id>\")] public partial int Ship(int id);", "private int ShipCore(int id) => id;")]
    [InlineData("AL0016", "[EtcdLock(\"/o/<id>\")] private partial void Ship(int id);", "private void ShipCore(int id) { }")]
    [InlineData("AL0016", "[EtcdLock(\"/o\")] public partial ref int Ship();", "")]
    [InlineData("AL0016", "[EtcdLock(\"/o\")] public partial System.Collections.Generic.IAsyncEnumerable<int> ShipAsync();", "")]
    [InlineData("AL0017", "[EtcdLock(\"/o/<id>\")] public partial Task ShipAsync(int id, ref int a, in int b, out int c, Span<byte> d, scoped ReadOnlySpan<char> e);", "")]
    public async Task Error_brings_no_CS8795_and_no_other_error(string id, string method, string core)
    {
        string source = TestCompilation.Usings + $$"""
            public partial class Svc(IEtcdLockProvider locks)
            {
                {{method}}

                {{core}}
            }
            """;
        var (outcome, all) = await TestCompilation.RunWithAnalyzerAsync(source);

        Assert.Contains(all, d => d.Id == id && d.Severity == DiagnosticSeverity.Error);
        var compilerErrors = outcome.Compilation.GetDiagnostics().Where(d => d.Severity == DiagnosticSeverity.Error).ToList();
        Assert.True(compilerErrors.Count == 0, "The user sees more than the AL error:\n" + string.Join("\n", compilerErrors) + "\n\n" + outcome.AllSources());
    }

    [Fact]
    public async Task Error_in_a_static_method_without_provider_brings_no_CS8795()
    {
        var (outcome, all) = await TestCompilation.RunWithAnalyzerAsync(TestCompilation.Usings + """
            public static partial class Jobs
            {
                [EtcdLock("/jobs")]
                public static partial Task RunAsync(CancellationToken ct);

                private static Task RunAsyncCore(CancellationToken ct) => Task.CompletedTask;
            }
            """);

        Assert.Contains(all, d => d.Id == DiagnosticIds.ProviderMissing);
        Assert.Empty(outcome.Compilation.GetDiagnostics().Where(d => d.Severity == DiagnosticSeverity.Error));
    }

    [Theory]
    [InlineData("public class Outer { public partial class Svc(IEtcdLockProvider locks) { [EtcdLock(\"/o\")] public partial Task ShipAsync(); private Task ShipAsyncCore() => Task.CompletedTask; } }")]
    [InlineData("public partial class Svc(IEtcdLockProvider locks) { [EtcdLock(\"/o\")] public Task ShipAsync() => Task.CompletedTask; private Task ShipAsyncCore() => Task.CompletedTask; }")]
    [InlineData("public partial class Svc(IEtcdLockProvider locks) { [EtcdLock(\"/o/<idd>\")] public partial Task ShipAsync(Missing id); }")]
    public void Error_that_leaves_no_valid_implementation_generates_none(string source)
        => Assert.Empty(TestCompilation.Run(TestCompilation.Usings + source).Sources);

    [Fact]
    public async Task Error_stub_throws_and_never_runs_the_body()
    {
        // A build that lowered the AL error's severity (.editorconfig) still compiles: the stub must not run the Core.
        GeneratorOutcome outcome = TestCompilation.Run(TestCompilation.Usings + """
            namespace Shop;

            public partial class Svc(IEtcdLockProvider locks)
            {
                public int CoreCalls;

                [EtcdLock("/o/<idd>", Ttl = 0)]
                public partial Task ShipAsync(int id, CancellationToken ct);

                private Task ShipAsyncCore(int id, CancellationToken ct) { CoreCalls++; return Task.CompletedTask; }
            }
            """);
        Assert.Equal(["AL0002", "AL0008"], outcome.GeneratorDiagnostics.Select(d => d.Id).Order());
        Snapshot.Match(outcome.AllSources());

        using var stream = new MemoryStream();
        var emit = outcome.Compilation.Emit(stream);
        Assert.True(emit.Success, string.Join("\n", emit.Diagnostics));
        var context = new System.Runtime.Loader.AssemblyLoadContext("error-stub", isCollectible: true);
        try
        {
            stream.Position = 0;
            Type type = context.LoadFromStream(stream).GetType("Shop.Svc")!;
            object service = Activator.CreateInstance(type, [null])!;
            var error = Assert.Throws<System.Reflection.TargetInvocationException>(() => type.GetMethod("ShipAsync")!.Invoke(service, [1, CancellationToken.None]));
            var stub = Assert.IsType<InvalidOperationException>(error.InnerException);
            Assert.Contains("AL0002", stub.Message, StringComparison.Ordinal);
            Assert.Contains("AL0008", stub.Message, StringComparison.Ordinal);
            Assert.Equal(0, (int)type.GetField("CoreCalls")!.GetValue(service)!);
        }
        finally
        {
            context.Unload();
        }
    }

    // Spans inside literals with escapes, verbatim and raw strings, and constants.
    [Theory]
    [InlineData("\"/o/\\t\\u0041\\\"x\\\\/<{|AL0002:idd|}>\"")]
    [InlineData("@\"/o/\"\"q\"\"/<{|AL0002:idd|}>\"")]
    [InlineData("\"\"\"/o/\"x\"/<{|AL0002:idd|}>\"\"\"")]
    [InlineData("\"/o/\\U0001F600/<{|AL0002:idd|}>\"")]
    public Task Spans_inside_literals_are_exact(string argument) => AssertDiagnostics(Service(argument), DiagnosticSeverity.Error);

    [Fact]
    public Task Constant_template_reports_on_the_argument() => AssertDiagnostics(
        Service("{|AL0002:Svc.Key|}", "    internal const string Key = \"/o/<idd>\";"),
        DiagnosticSeverity.Error);

    [Fact]
    public void Every_descriptor_has_category_and_is_covered()
    {
        var descriptors = typeof(DiagnosticDescriptors).GetFields()
            .Select(f => (DiagnosticDescriptor)f.GetValue(null)!)
            .ToList();
        Assert.Equal(25, descriptors.Count);
        Assert.Equal(descriptors.Count, descriptors.Select(d => d.Id).Distinct().Count());
        Assert.All(descriptors, d =>
        {
            Assert.Equal("AttributeLock", d.Category);
            Assert.Matches("^AL00[0-9]{2}$", d.Id);
            Assert.True(d.IsEnabledByDefault);
        });
        Assert.Equal(DiagnosticSeverity.Warning, DiagnosticDescriptors.TemplateWithoutSlash.DefaultSeverity);
        Assert.Equal(DiagnosticSeverity.Warning, DiagnosticDescriptors.MissingCancellationToken.DefaultSeverity);
        Assert.Equal(DiagnosticSeverity.Warning, DiagnosticDescriptors.LockAndReaderWriterShareTemplate.DefaultSeverity);
    }

    private static async Task<IReadOnlyList<Diagnostic>> AssertDiagnostics(string markupSource, DiagnosticSeverity severity)
    {
        Markup markup = Markup.Parse(TestCompilation.Usings + markupSource);
        var (_, all) = await TestCompilation.RunWithAnalyzerAsync(markup.Source);
        // AL0019 (no CancellationToken) is checked only where the markup expects it: most sources here leave the
        // token out because they are about something else.
        bool checkToken = markup.Expected.Any(e => e.Id == DiagnosticIds.MissingCancellationToken);
        var diagnostics = all
            .Where(d => d.Id.StartsWith("AL", StringComparison.Ordinal))
            .Where(d => checkToken || d.Id != DiagnosticIds.MissingCancellationToken)
            .OrderBy(d => d.Location.SourceSpan.Start)
            .ToList();

        Assert.Equal(
            markup.Expected.Select(e => $"{e.Id} {e.Span}"),
            diagnostics.Select(d => $"{d.Id} {d.Location.SourceSpan}"));

        SourceText text = SourceText.From(markup.Source);
        foreach (Diagnostic diagnostic in diagnostics)
        {
            Assert.Equal(severity, diagnostic.Severity);

            FileLinePositionSpan lines = diagnostic.Location.GetLineSpan();
            Assert.Equal("User0.cs", lines.Path);
            Assert.Equal(text.Lines.GetLinePositionSpan(diagnostic.Location.SourceSpan), lines.Span);
        }

        return diagnostics;
    }

    private static void AssertClean(string source)
    {
        GeneratorOutcome outcome = TestCompilation.Run(TestCompilation.Usings + source);
        outcome.AssertCompilesCleanly();
        Assert.NotEmpty(outcome.Sources);
    }
}
