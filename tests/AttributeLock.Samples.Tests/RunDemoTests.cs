using System.Diagnostics;
using System.Text;
using System.Text.RegularExpressions;
using AttributeLock.EtcdFixture;
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

    private static readonly Regex LeaderTakeover = new(
        @"^leader takeover: /leaders/settlement from killed (w\d+) \(fencing token (\d+)\) to (w\d+) \(fencing token (\d+)\), ([\d.]+) s after the kill \(TTL (\d+) s\)$",
        RegexOptions.Multiline);

    private static readonly Regex BackOffice = new(
        @"^reports: (\d+) holds, at most (\d+) at once; catalog: (\d+) reads, (\d+) updates, (\d+) writer overlaps, (\d+) lost updates; settlement: (\d+) increments by (\d+) leaders, (\d+) stale$",
        RegexOptions.Multiline);

    private static readonly Regex Run = new(@"^OrderService demo, run (run-[\w-]+),", RegexOptions.Multiline);

    private static readonly Regex Pause = new(
        @"^pause: (/orders/\d+) write of paused (w\d+) \(fencing token (\d+)\) (refused by etcd|applied \(plain put, --unguarded\)); new holder (w\d+) \(fencing token (\d+)\)$",
        RegexOptions.Multiline);

    [Fact]
    public async Task Short_run_holds_are_exclusive_no_update_is_lost_the_killed_workers_lock_and_the_killed_leaders_job_are_taken_over_and_the_paused_workers_late_write_is_refused()
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

        // The pause phase: the stopped worker's late write was refused by etcd, with both fencing tokens on the timeline.
        Match pause = Pause.Match(result.Stdout);
        Assert.True(pause.Success, $"no pause outcome line:\n{result}");
        Assert.Equal("refused by etcd", pause.Groups[4].Value);
        (string key, string paused, long pausedToken, string holder, long holderToken) = PauseParts(pause);
        Assert.NotEqual(paused, holder);
        Assert.True(holderToken > pausedToken, pause.Value);
        int stop = result.Stdout.IndexOf($"kill -STOP {paused} ", StringComparison.Ordinal);
        int takeoverOfPaused = result.Stdout.IndexOf($"{holder} took {key} while {paused} is stopped", StringComparison.Ordinal);
        int cont = result.Stdout.IndexOf($"kill -CONT {paused} ", StringComparison.Ordinal);
        var refusedLine = new Regex($@"{paused}\s+✋ REFUSED {Regex.Escape(key)}\s+etcd refused its write \(payments \d+→\d+\) with fencing token {pausedToken}: the lock key's create revision is {holderToken} now \({holder} holds it\)");
        Match refused = refusedLine.Match(result.Stdout);
        Assert.True(stop >= 0 && takeoverOfPaused > stop && cont > takeoverOfPaused, $"SIGSTOP, takeover, SIGCONT out of order:\n{result}");
        Assert.True(refused.Success && refused.Index > cont, $"no refused write after the SIGCONT:\n{result}");
        Assert.Contains($"refused by etcd (guarded write): {paused} {key} payments", result.Stdout);

        // Phase 3b: the leader read with GetLeaderAsync is killed; the next one leads with a larger fencing token after
        // about the TTL, and settles on. Two report tickets side by side while others wait; readers while an update waits.
        Match leader = LeaderTakeover.Match(result.Stdout);
        Assert.True(leader.Success, $"no leader takeover line:\n{result}");
        (string oldLeader, long oldToken, string newLeader, long newToken) =
            (leader.Groups[1].Value, long.Parse(leader.Groups[2].Value), leader.Groups[3].Value, long.Parse(leader.Groups[4].Value));
        Assert.NotEqual(oldLeader, newLeader);
        Assert.True(newToken > oldToken, leader.Value);
        Assert.True(double.Parse(leader.Groups[5].Value, System.Globalization.CultureInfo.InvariantCulture) < 4 * int.Parse(leader.Groups[6].Value), leader.Value);
        int shown = result.Stdout.IndexOf($"GetLeaderAsync: {oldLeader} leads /leaders/settlement with fencing token {oldToken} ", StringComparison.Ordinal);
        int killed = result.Stdout.IndexOf($"kill -9 {oldLeader} ", StringComparison.Ordinal);
        int observed = result.Stdout.IndexOf($"ObserveLeaderAsync: {newLeader} leads /leaders/settlement now, fencing token {newToken} > {oldToken}", StringComparison.Ordinal);
        Assert.True(shown >= 0 && killed > shown && observed > killed, $"leader shown, killed, taken over out of order:\n{result}");
        Assert.Matches($@"{newLeader}\s+⚖ settles\s+counter → \d+ with its leader fencing token {newToken} \(a guarded write", result.Stdout);
        Assert.Contains("⇉ 2 settlement reports side by side", result.Stdout);
        Assert.Contains("⇉ catalog reads side by side", result.Stdout);

        Match office = BackOffice.Match(result.Stdout);
        Assert.True(office.Success, $"no back-office verification line:\n{result}");
        int Group(int i) => int.Parse(office.Groups[i].Value);
        Assert.True(Group(1) > 0 && Group(2) is >= 1 and <= 2, office.Value);
        Assert.True(Group(3) > 0 && Group(4) > 0, office.Value);
        Assert.Equal(0, Group(5));
        Assert.Equal(0, Group(6));
        Assert.True(Group(7) > 0 && Group(8) >= 2, office.Value);
        Assert.Equal(0, Group(9));
        Assert.Contains("PASS", result.Stdout);

        // Behind the demo's back: every lock of the run was released (the killed worker's by its lease's TTL).
        string run = Run.Match(result.Stdout).Groups[1].Value;
        Assert.StartsWith("run-", run);
        using var client = new EtcdClient(SharedEtcd.First(endpoints));
        RangeResponse locks = await client.GetRangeAsync($"/orderservice/locks/{run}/");
        Assert.Empty(locks.Kvs);
        RangeResponse payments = await client.GetRangeAsync($"/orderservice/data/{run}/orders/");
        Assert.NotEmpty(payments.Kvs);

        // The refusal is in the journal, and the paused order's counter equals the writes that were applied.
        Assert.Equal(1, await CountJournalAsync(client, run, "refused", key, pausedToken));
        Assert.Equal(0, await CountJournalAsync(client, run, "exit", key, pausedToken));
        Assert.Equal(await CountJournalAsync(client, run, "exit", key, token: null), await PaymentsAsync(client, run, key));

        // The settlement leader's counter ("n token") counts every settle entry and names the last leader's token; a
        // report is stored for every report hold that wrote one.
        string[] counter = (await client.GetValAsync($"/orderservice/data/{run}/jobs/settlement-leader/counter")).Split(' ');
        Assert.Equal(Group(7), int.Parse(counter[0]));
        Assert.True(long.Parse(counter[1]) >= newToken, string.Join(' ', counter));
        RangeResponse reports = await client.GetRangeAsync($"/orderservice/data/{run}/reports/settlement/");
        Assert.Equal(await CountJournalAsync(client, run, "exit", "/reports/settlement/#sem/", token: null, prefix: true), reports.Kvs.Count);
    }

    [Fact]
    public async Task Unguarded_the_paused_workers_late_write_lands_and_the_verification_reports_the_lost_update()
    {
        string endpoints = await SharedEtcd.GetEndpointsAsync();

        DemoResult result = await RunDemoAsync(endpoints, "--short", "--unguarded");

        // A lost update is a failed check: exit status 1, said so in the output.
        Assert.True(result.ExitCode == 1, $"run-demo.sh --short --unguarded exited with {result.ExitCode}:\n{result}");
        Match pause = Pause.Match(result.Stdout);
        Assert.True(pause.Success, $"no pause outcome line:\n{result}");
        Assert.Equal("applied (plain put, --unguarded)", pause.Groups[4].Value);
        (string key, string paused, long pausedToken, string holder, long holderToken) = PauseParts(pause);
        Assert.True(holderToken > pausedToken, pause.Value);
        int cont = result.Stdout.IndexOf($"kill -CONT {paused} ", StringComparison.Ordinal);
        Match wrote = new Regex($@"{paused}\s+◀ WROTE\s+{Regex.Escape(key)}\s+payments \d+→\d+ with its stale fencing token {pausedToken}, a plain put: applied, though {holder} \(fencing token {holderToken}\) holds the lock").Match(result.Stdout);
        Assert.True(cont >= 0 && wrote.Success && wrote.Index > cont, $"no late write after the SIGCONT:\n{result}");
        Assert.Contains("both wrote payments", result.Stdout);
        Assert.DoesNotContain("REFUSED", result.Stdout);

        Match summary = Summary.Match(result.Stdout);
        Assert.True(summary.Success, $"no verification line:\n{result}");
        Assert.True(int.Parse(summary.Groups[3].Value) >= 1, summary.Value);
        Assert.Contains($"problem: order {key["/orders/".Length..]}:", result.Stdout);
        Assert.Contains("FAIL, as expected with --unguarded", result.Stdout);
        Assert.Matches(BackOffice, result.Stdout);
        Assert.Contains($"while {holder} held {key} with {holderToken}", result.Stdout);
        Assert.DoesNotContain("PASS", result.Stdout);

        // Behind the demo's back: the paused order's counter is short of the writes that were applied.
        string run = Run.Match(result.Stdout).Groups[1].Value;
        using var client = new EtcdClient(SharedEtcd.First(endpoints));
        Assert.Equal(1, await CountJournalAsync(client, run, "exit", key, pausedToken));
        Assert.True(await PaymentsAsync(client, run, key) < await CountJournalAsync(client, run, "exit", key, token: null));
    }

    private static (string Key, string Paused, long PausedToken, string Holder, long HolderToken) PauseParts(Match pause) =>
        (pause.Groups[1].Value, pause.Groups[2].Value, long.Parse(pause.Groups[3].Value), pause.Groups[5].Value, long.Parse(pause.Groups[6].Value));

    private static async Task<int> CountJournalAsync(EtcdClient client, string run, string kind, string key, long? token, bool prefix = false)
    {
        RangeResponse journal = await client.GetRangeAsync($"/orderservice/data/{run}/journal/");
        return journal.Kvs.Select(kv => System.Text.Json.JsonDocument.Parse(kv.Value.ToStringUtf8()).RootElement).Count(e =>
            e.GetProperty("kind").GetString() == kind && e.TryGetProperty("key", out var k)
            && (prefix ? k.GetString()!.StartsWith(key, StringComparison.Ordinal) : k.GetString() == key)
            && (token is null || (e.TryGetProperty("token", out var t) && t.GetInt64() == token)));
    }

    private static async Task<int> PaymentsAsync(EtcdClient client, string run, string key)
    {
        string? counter = await client.GetValAsync($"/orderservice/data/{run}{key}/payments");
        return string.IsNullOrEmpty(counter) ? 0 : int.Parse(counter);
    }

    [Fact]
    public async Task Help_exits_zero_and_explains_the_options()
    {
        DemoResult result = await RunDemoAsync(endpoints: null, "--help");

        Assert.True(result.ExitCode == 0, result.ToString());
        foreach (string option in new[] { "--workers", "--orders", "--duration", "--short", "--unguarded", "ETCD_ENDPOINTS" })
        {
            Assert.Contains(option, result.Stdout);
        }
    }

    [Fact]
    public async Task Health_is_healthy_against_a_real_etcd_and_unhealthy_without_one()
    {
        DemoResult healthy = await RunDemoAsync(await SharedEtcd.GetEndpointsAsync(), "--health");
        Assert.True(healthy.ExitCode == 0, healthy.ToString());
        Assert.Contains("attributelock-etcd: Healthy", healthy.Stdout);

        DemoResult unreachable = await RunDemoAsync("http://127.0.0.1:1", "--health");
        Assert.True(unreachable.ExitCode == 1, unreachable.ToString());
        Assert.Contains("attributelock-etcd: Unhealthy - etcd cannot be reached", unreachable.Stdout);
    }

    [Fact]
    public async Task Bad_options_exit_non_zero_with_a_message_naming_the_problem()
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
