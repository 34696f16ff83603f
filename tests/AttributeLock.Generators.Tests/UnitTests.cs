using System.Collections.Immutable;
using Xunit.Sdk;

namespace AttributeLock.Generators.Tests;

public sealed class KeyTemplateTests
{
    [Theory]
    [InlineData("/orders/<id>", "Literal:/orders/|Placeholder:<id>")]
    [InlineData("/a/<order.Customer.Id>-x", "Literal:/a/|Placeholder:<order.Customer.Id>|Literal:-x")]
    [InlineData("<a><b>", "Placeholder:<a>|Placeholder:<b>")]
    [InlineData("/<@class>", "Literal:/|Placeholder:<@class>")]
    [InlineData("/x>y", "Literal:/x>y")]
    [InlineData("/<id", "Literal:/|Unterminated:<id")]
    [InlineData("/<a<b>", "Literal:/|Unterminated:<a|Placeholder:<b>")]
    [InlineData("/<>", "Literal:/|Empty:<>")]
    [InlineData("/<1a>", "Literal:/|InvalidName:<1a>")]
    [InlineData("/{id}/{}/{ x }", "Literal:/|Braces:{id}|Literal:/{}/{ x }")]
    public void Tokenize_SplitsLiteralsAndPlaceholders(string template, string expected)
    {
        var tokens = KeyTemplate.Tokenize(template);
        Assert.Equal(expected, string.Join("|", tokens.Select(t => t.Kind + ":" + template.Substring(t.Start, t.Length))));
    }

    [Fact]
    public void Placeholder_SegmentsAndTheirPositions()
    {
        const string template = "/x/<order.@class.Id>";
        TemplateToken token = KeyTemplate.Tokenize(template)[1];

        Assert.Equal(["order", "class", "Id"], token.Segments);
        Assert.Equal("order.class.Id", token.Path);
        Assert.Equal("@class", template.Substring(token.SegmentStart(template, 1), token.SegmentLength(template, 1)));
        Assert.Equal("Id", template.Substring(token.SegmentStart(template, 2), token.SegmentLength(template, 2)));
    }
}

public sealed class HintNameTests
{
    [Fact]
    public void Collisions_GetNumberedSuffixes_IndependentOfOrder()
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
    public void SameTypeNameInTwoNamespaces_GeneratesTwoFiles()
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

public sealed class EquatableArrayTests
{
    [Fact]
    public void ComparesByElements()
    {
        var a = new EquatableArray<string>(["x", "y"]);
        var b = new EquatableArray<string>(["x", "y"]);

        Assert.Equal(a, b);
        Assert.True(a == b);
        Assert.Equal(a.GetHashCode(), b.GetHashCode());
        Assert.NotEqual(a, new EquatableArray<string>(["x"]));
        Assert.Equal(EquatableArray<string>.Empty, new EquatableArray<string>([]));
        Assert.Empty(EquatableArray<string>.Empty);
    }
}

public sealed class SnapshotTests : IDisposable
{
    private readonly string _folder = Path.Combine(Path.GetTempPath(), "attributelock-snapshots-" + Guid.NewGuid().ToString("N"));

    private string BaseName => Path.Combine(_folder, "Tests.Case");

    public void Dispose()
    {
        if (Directory.Exists(_folder))
        {
            Directory.Delete(_folder, recursive: true);
        }
    }

    [Fact]
    public void Missing_OnCi_FailsWithoutCreating()
    {
        Assert.Throws<FailException>(() => Snapshot.MatchFile("a\n", BaseName, accept: false, ci: true));
        Assert.False(File.Exists(BaseName + ".verified.cs"));
    }

    [Fact]
    public void Missing_Locally_IsCreated_AndFails()
    {
        var error = Assert.Throws<FailException>(() => Snapshot.MatchFile("a\n", BaseName, accept: false, ci: false));
        Assert.Contains("Review it", error.Message, StringComparison.Ordinal);
        Assert.Equal("a\n", File.ReadAllText(BaseName + ".verified.cs"));
    }

    [Fact]
    public void Mismatch_WritesReceived_AndShowsADiff()
    {
        Directory.CreateDirectory(_folder);
        File.WriteAllText(BaseName + ".verified.cs", "one\r\ntwo\nthree\nfour\nfive\nsix\nseven\n");

        var error = Assert.Throws<FailException>(() => Snapshot.MatchFile("one\ntwo\nTHREE\nfour\nfive\nsix\nseven\n", BaseName, accept: false, ci: true));

        Assert.Equal("one\ntwo\nTHREE\nfour\nfive\nsix\nseven\n", File.ReadAllText(BaseName + ".received.cs"));
        Assert.Contains("-three\n+THREE\n", error.Message, StringComparison.Ordinal);
        Assert.Contains(" two\n", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("seven", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Match_RemovesAStaleReceivedFile_AndAcceptOverwrites()
    {
        Snapshot.MatchFile("[GeneratedCode(\"AttributeLock.Generators\", \"1.2.3.4\")]\n", BaseName, accept: true, ci: true);
        Assert.Equal("[GeneratedCode(\"AttributeLock.Generators\", \"{version}\")]\n", File.ReadAllText(BaseName + ".verified.cs"));
        File.WriteAllText(BaseName + ".received.cs", "stale");

        Snapshot.MatchFile("[GeneratedCode(\"AttributeLock.Generators\", \"9.9.9.9\")]\r\n", BaseName, accept: false, ci: true);

        Assert.False(File.Exists(BaseName + ".received.cs"));
    }
}
