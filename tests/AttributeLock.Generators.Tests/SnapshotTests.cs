using Xunit.Sdk;

namespace AttributeLock.Generators.Tests;

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
    public void Missing_on_ci_fails_without_creating()
    {
        Assert.Throws<FailException>(() => Snapshot.MatchFile("a\n", BaseName, accept: false, ci: true));
        Assert.False(File.Exists(BaseName + ".verified.cs"));
    }

    [Fact]
    public void Missing_locally_is_created_and_fails()
    {
        var error = Assert.Throws<FailException>(() => Snapshot.MatchFile("a\n", BaseName, accept: false, ci: false));
        Assert.Contains("Review it", error.Message, StringComparison.Ordinal);
        Assert.Equal("a\n", File.ReadAllText(BaseName + ".verified.cs"));
    }

    [Fact]
    public void Mismatch_writes_received_and_shows_a_diff()
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
    public void Match_removes_a_stale_received_file_and_accept_overwrites()
    {
        Snapshot.MatchFile("[GeneratedCode(\"AttributeLock.Generators\", \"1.2.3.4\")]\n", BaseName, accept: true, ci: true);
        Assert.Equal("[GeneratedCode(\"AttributeLock.Generators\", \"{version}\")]\n", File.ReadAllText(BaseName + ".verified.cs"));
        File.WriteAllText(BaseName + ".received.cs", "stale");

        Snapshot.MatchFile("[GeneratedCode(\"AttributeLock.Generators\", \"9.9.9.9\")]\r\n", BaseName, accept: false, ci: true);

        Assert.False(File.Exists(BaseName + ".received.cs"));
    }
}
