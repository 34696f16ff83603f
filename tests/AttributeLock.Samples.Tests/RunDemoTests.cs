using System.Diagnostics;
using System.Text;
using System.Text.RegularExpressions;
using AttributeLock.Testing;
using dotnet_etcd;
using Etcdserverpb;

namespace AttributeLock.Samples.Tests;

/// <summary>
/// The README's first command, end to end: <c>./run-demo.sh</c> builds samples/OrderService and runs its demo against a
/// real etcd (the tests' shared one, through ETCD_ENDPOINTS). One class, so the runs (and their builds) never overlap.
/// </summary>
public sealed class RunDemoTests
{
    private static readonly Regex Summary = new(@"^(\d+) operations, (\d+) overlapping holds, (\d+) lost updates$", RegexOptions.Multiline);

    private static readonly Regex Takeover = new(
        @"^crash takeover: (/orders/\d+) from killed (w\d+) \(fencing token (\d+)\) to (w\d+) \(fencing token (\d+)\)",
        RegexOptions.Multiline);

    private static readonly Regex Run = new(@"^OrderService demo, run (run-[\w-]+),", RegexOptions.Multiline);

    [Fact]
    public async Task ShortRun_HoldsAreExclusive_NoUpdateIsLost_AndTheKilledWorkersLockIsTakenOverWithALargerToken()
    {
        string endpoints = await SharedEtcd.GetEndpointsAsync();

        DemoResult result = await RunDemoAsync(endpoints, "--short");

        Assert.True(result.ExitCode == 0, $"run-demo.sh --short exited with {result.ExitCode}:\n{result}");
        Match summary = Summary.Match(result.Stdout);
        Assert.True(summary.Success, $"no verification line:\n{result}");
        Assert.True(long.Parse(summary.Groups[1].Value) > 0, summary.Value);
        Assert.Equal("0", summary.Groups[2].Value);
        Assert.Equal("0", summary.Groups[3].Value);

        Match takeover = Takeover.Match(result.Stdout);
        Assert.True(takeover.Success, $"no crash takeover line:\n{result}");
        Assert.NotEqual(takeover.Groups[2].Value, takeover.Groups[4].Value);
        Assert.True(long.Parse(takeover.Groups[5].Value) > long.Parse(takeover.Groups[3].Value), takeover.Value);
        Assert.Contains($"kill -9 {takeover.Groups[2].Value}", result.Stdout);
        Assert.Contains("PASS", result.Stdout);

        // Behind the demo's back: every lock of the run was released (the killed worker's by its lease's TTL).
        string run = Run.Match(result.Stdout).Groups[1].Value;
        Assert.StartsWith("run-", run);
        using var client = new EtcdClient(SharedEtcd.First(endpoints));
        RangeResponse locks = await client.GetRangeAsync($"/orderservice/locks/{run}/");
        Assert.Empty(locks.Kvs);
        RangeResponse payments = await client.GetRangeAsync($"/orderservice/data/{run}/orders/");
        Assert.NotEmpty(payments.Kvs);
    }

    [Fact]
    public async Task Help_ExitsZero_AndExplainsTheOptions()
    {
        DemoResult result = await RunDemoAsync(endpoints: null, "--help");

        Assert.True(result.ExitCode == 0, result.ToString());
        foreach (string option in new[] { "--workers", "--orders", "--duration", "--short", "ETCD_ENDPOINTS" })
        {
            Assert.Contains(option, result.Stdout);
        }
    }

    [Fact]
    public async Task Health_IsHealthyAgainstARealEtcd_AndUnhealthyWithoutOne()
    {
        DemoResult healthy = await RunDemoAsync(await SharedEtcd.GetEndpointsAsync(), "--health");
        Assert.True(healthy.ExitCode == 0, healthy.ToString());
        Assert.Contains("attributelock-etcd: Healthy", healthy.Stdout);

        DemoResult unreachable = await RunDemoAsync("http://127.0.0.1:1", "--health");
        Assert.True(unreachable.ExitCode == 1, unreachable.ToString());
        Assert.Contains("attributelock-etcd: Unhealthy - etcd cannot be reached", unreachable.Stdout);
    }

    [Fact]
    public async Task BadOptions_ExitNonZero_WithAMessageNamingTheProblem()
    {
        DemoResult unknown = await RunDemoAsync(endpoints: null, "--bogus");
        Assert.NotEqual(0, unknown.ExitCode);
        Assert.Contains("unknown option '--bogus'", unknown.Stderr);

        DemoResult outOfRange = await RunDemoAsync(endpoints: null, "--workers", "1");
        Assert.NotEqual(0, outOfRange.ExitCode);
        Assert.Contains("--workers must be a whole number from 2 to 8, not '1'", outOfRange.Stderr);
        Assert.DoesNotContain("started etcd", outOfRange.Stderr);
    }

    private static async Task<DemoResult> RunDemoAsync(string? endpoints, params string[] args)
    {
        string root = RepositoryRoot();
        var psi = new ProcessStartInfo("bash")
        {
            WorkingDirectory = root,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        psi.ArgumentList.Add(Path.Combine(root, "run-demo.sh"));
        foreach (string a in args)
        {
            psi.ArgumentList.Add(a);
        }

        // The test host runs inside `dotnet test`: keep its MSBuild settings away from run-demo.sh's own build.
        foreach (string name in psi.Environment.Keys.Where(k => k.StartsWith("MSBuild", StringComparison.OrdinalIgnoreCase)).ToList())
        {
            psi.Environment.Remove(name);
        }

        if (endpoints is null)
        {
            psi.Environment.Remove("ETCD_ENDPOINTS");
        }
        else
        {
            psi.Environment["ETCD_ENDPOINTS"] = endpoints;
        }

        var stdout = new StringBuilder();
        var stderr = new StringBuilder();
        using var process = new Process { StartInfo = psi };
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) { lock (stdout) { stdout.AppendLine(e.Data); } } };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) { lock (stderr) { stderr.AppendLine(e.Data); } } };
        process.Start();
        process.StandardInput.Close();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();

        // A guard against a hung run, not a speed requirement: a build on a busy machine may take minutes.
        using var hang = new CancellationTokenSource(TimeSpan.FromMinutes(15));
        try
        {
            await process.WaitForExitAsync(hang.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            Assert.Fail($"run-demo.sh {string.Join(' ', args)} did not finish:\n{stdout}\n{stderr}");
        }

        process.WaitForExit();
        return new DemoResult(process.ExitCode, stdout.ToString(), stderr.ToString());
    }

    private static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "run-demo.sh")) && File.Exists(Path.Combine(dir.FullName, "AttributeLock.sln")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException($"run-demo.sh not found above {AppContext.BaseDirectory}.");
    }

    private sealed record DemoResult(int ExitCode, string Stdout, string Stderr)
    {
        public override string ToString() => $"--- stdout ---\n{Stdout}\n--- stderr ---\n{Stderr}";
    }
}
