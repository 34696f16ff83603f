using Xunit.Sdk;

namespace AttributeLock.Generators.Tests;

public sealed class HintNameTests
{
    [Fact]
    public void Collisions_get_numbered_suffixes_independent_of_order()
    {
        HintNameRequest[] requests =
        [
            new("B.Svc.RunAsync()", "Svc.RunAsync"),
            new("A.Svc.RunAsync()", "Svc.RunAsync"),
            new("A.svc.RunAsync()", "svc.RunAsync"),
            new("A.Svc.StopAsync()", "Svc.StopAsync"),
        ];

        var forward = HintNames.Assign([.. requests]);
        var backward = HintNames.Assign([.. requests.Reverse()]);

        Assert.Equal(forward, backward);
        Assert.Equal("Svc.RunAsync.g.cs", HintNames.Lookup(forward, "A.Svc.RunAsync()", "x"));
        Assert.Equal("svc.RunAsync.2.g.cs", HintNames.Lookup(forward, "A.svc.RunAsync()", "x"));
        Assert.Equal("Svc.RunAsync.3.g.cs", HintNames.Lookup(forward, "B.Svc.RunAsync()", "x"));
        Assert.Equal("Svc.StopAsync.g.cs", HintNames.Lookup(forward, "A.Svc.StopAsync()", "x"));
    }

    [Fact]
    public void Same_type_name_in_two_namespaces_generates_two_files()
    {
        GeneratorOutcome outcome = TestCompilation.Run(TestCompilation.Usings + """
            namespace One
            {
                public partial class Svc(IEtcdLockProvider locks)
                {
                    [EtcdLock("/one")]
                    public partial Task RunAsync();

                    private Task RunAsyncCore() => Task.CompletedTask;
                }
            }

            namespace Two
            {
                public partial class Svc(IEtcdLockProvider locks)
                {
                    [EtcdLock("/two")]
                    public partial Task RunAsync();

                    private Task RunAsyncCore() => Task.CompletedTask;
                }
            }
            """);

        outcome.AssertCompilesCleanly();
        Assert.Equal(["Svc.RunAsync.2.g.cs", "Svc.RunAsync.g.cs"], outcome.Sources.Select(s => s.HintName).Order());
    }
}
