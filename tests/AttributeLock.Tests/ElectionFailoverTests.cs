using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using AttributeLock.EtcdFixture;
using Etcdserverpb;
using Xunit.Abstractions;

namespace AttributeLock.Tests;

/// <summary>
/// Leader election across three real processes (the test worker's <c>leader</c> mode): a host stop resigns at once, a
/// SIGKILLed leader is replaced after its lease's TTL, and a leader paused past its TTL has its guarded writes refused
/// once another leads; every increment of the leaders' counter is applied exactly once. The takeover times are printed
/// (docs/reliability.md); the only time asserted is the one that tells a resignation from an expiry.
/// </summary>
public sealed class ElectionFailoverTests(ITestOutputHelper output) : ProviderTestBase
{
    private sealed class Candidate : IDisposable
    {
        public Candidate(Process process, string name)
        {
            Process = process;
            Name = name;
            _ = Task.Run(async () =>
            {
                while (await process.StandardOutput.ReadLineAsync() is { } line)
                {
                    Lines.Enqueue((Stopwatch.GetTimestamp(), line));
                }
            });
            _ = process.StandardError.ReadToEndAsync();
        }

        public Process Process { get; }
        public string Name { get; }
        public ConcurrentQueue<(long At, string Line)> Lines { get; } = new();

        public (long At, long Token)? Leading(long after = 0) =>
            Lines.Where(l => l.At > after && l.Line.StartsWith("LEADING ", StringComparison.Ordinal))
                .Select(l => ((long, long)?)(l.At, long.Parse(l.Line.Split(' ')[1], CultureInfo.InvariantCulture))).FirstOrDefault();

        public void Signal(string signal)
        {
            using var kill = Process.Start("kill", $"-{signal} {Process.Id}")!;
            kill.WaitForExit();
        }

        public void Dispose()
        {
            if (!Process.HasExited)
            {
                Process.Kill();
            }

            Process.Dispose();
        }
    }

    private (List<Candidate> All, string Election, string Counter) Start(int ttl)
    {
        string election = "/attributelock-tests" + UniqueKey("election");
        string counter = "/attributelock-tests" + UniqueKey("leader-counter");
        string endpoint = SharedEtcd.First(Endpoints);
        var all = Enumerable.Range(0, 3).Select(i => new Candidate(Worker.Start("leader", endpoint, election, $"{ttl}", counter), $"c{i}")).ToList();
        return (all, election, counter);
    }

    private static async Task<(Candidate Who, long At, long Token)> NextLeaderAsync(IEnumerable<Candidate> candidates, long after, TimeSpan limit)
    {
        var sw = Stopwatch.StartNew();
        while (sw.Elapsed < limit)
        {
            foreach (Candidate c in candidates)
            {
                if (c.Leading(after) is { } l)
                {
                    return (c, l.At, l.Token);
                }
            }

            await Task.Delay(10);
        }

        throw new TimeoutException($"no candidate led within {limit}");
    }

    private static double Ms(long from, long to) => (to - from) * 1000.0 / Stopwatch.Frequency;

    [Fact]
    public async Task A_stopped_host_resigns_and_the_next_leads_without_waiting_for_the_ttl()
    {
        (List<Candidate> all, _, _) = Start(ttl: 15);
        try
        {
            (Candidate first, _, long firstToken) = await NextLeaderAsync(all, 0, TimeSpan.FromSeconds(60));
            long stopped = Stopwatch.GetTimestamp();
            first.Signal("TERM");
            (Candidate next, long at, long token) = await NextLeaderAsync(all.Where(c => c != first), stopped, TimeSpan.FromSeconds(30));
            double ms = Ms(stopped, at);
            output.WriteLine($"host stop (SIGTERM) → next leader leading: {ms:F0} ms (TTL 15 s)");
            Assert.True(token > firstToken);
            Assert.True(ms < 7_500, $"a resignation hands over at once; {ms:F0} ms is closer to the TTL's expiry (15 s)");
            Assert.True(await Task.Run(() => first.Process.WaitForExit(10_000)), "the stopped host should exit after resigning");
            Assert.Contains(first.Lines, l => l.Line == "STOPPED");
            Assert.NotEqual(first, next);
        }
        finally
        {
            all.ForEach(c => c.Dispose());
        }
    }

    [Fact]
    public async Task A_killed_leader_is_replaced_after_its_ttl()
    {
        (List<Candidate> all, _, _) = Start(ttl: 3);
        try
        {
            (Candidate first, _, long firstToken) = await NextLeaderAsync(all, 0, TimeSpan.FromSeconds(60));
            long killed = Stopwatch.GetTimestamp();
            first.Signal("KILL");
            (_, long at, long token) = await NextLeaderAsync(all.Where(c => c != first), killed, TimeSpan.FromSeconds(30));
            double ms = Ms(killed, at);
            output.WriteLine($"SIGKILL of the leader → next leader leading: {ms:F0} ms (TTL 3 s)");
            Assert.True(token > firstToken);
            Assert.True(ms > 1_000, $"nobody may lead before the killed leader's lease (up to 3 s left) expired; took {ms:F0} ms");
        }
        finally
        {
            all.ForEach(c => c.Dispose());
        }
    }

    [Fact]
    public async Task A_leader_paused_past_its_ttl_has_its_writes_refused_and_no_increment_is_lost()
    {
        (List<Candidate> all, _, string counter) = Start(ttl: 2);
        try
        {
            (Candidate first, _, long firstToken) = await NextLeaderAsync(all, 0, TimeSpan.FromSeconds(60));
            await Task.Delay(500);
            long paused = Stopwatch.GetTimestamp();
            first.Signal("STOP");
            (Candidate next, long at, long token) = await NextLeaderAsync(all.Where(c => c != first), paused, TimeSpan.FromSeconds(30));
            output.WriteLine($"SIGSTOP of the leader → next leader leading: {Ms(paused, at):F0} ms (TTL 2 s)");
            await Task.Delay(1000); // the new leader writes meanwhile
            first.Signal("CONT");
            var sw = Stopwatch.StartNew();
            while (!first.Lines.Any(l => l.Line == $"REFUSED {firstToken}") && sw.Elapsed < TimeSpan.FromSeconds(20))
            {
                await Task.Delay(20);
            }

            Assert.Contains(first.Lines, l => l.Line == $"REFUSED {firstToken}");
            Assert.True(token > firstToken);
            foreach (Candidate c in all)
            {
                c.Signal("TERM");
            }

            foreach (Candidate c in all)
            {
                Assert.True(await Task.Run(() => c.Process.WaitForExit(15_000)), $"{c.Name} did not stop");
            }

            // Every increment was applied exactly once, by leaders in fencing-token order.
            var wrote = all.SelectMany(c => c.Lines).Where(l => l.Line.StartsWith("WROTE ", StringComparison.Ordinal))
                .Select(l => l.Line.Split(' ')).Select(p => (N: long.Parse(p[1], CultureInfo.InvariantCulture), Token: long.Parse(p[2], CultureInfo.InvariantCulture)))
                .OrderBy(w => w.N).ToList();
            RangeResponse final = await Client.GetAsync(counter);
            long n = long.Parse(final.Kvs[0].Value.ToStringUtf8().Split(' ')[0], CultureInfo.InvariantCulture);
            // The host stop (SIGTERM) resigns while the body's last write may be in flight: that write can commit in
            // etcd without its answer reaching the worker (it then does not print WROTE). So the printed writes are
            // 1..n, or 1..n-1 with the last one's outcome unknown to the worker; never a gap and never a repeat.
            long printed = wrote.Count == 0 ? 0 : wrote[^1].N;
            Assert.True(printed == n || printed == n - 1, $"counter {n}, last printed write {printed}");
            Assert.Equal(Enumerable.Range(1, (int)printed).Select(i => (long)i), wrote.Select(w => w.N));
            Assert.True(wrote.Zip(wrote.Skip(1)).All(p => p.First.Token <= p.Second.Token), "a write of an older leader came after a newer leader's");
            output.WriteLine($"{n} increments, {wrote.Select(w => w.Token).Distinct().Count()} leaderships, {all.Sum(c => c.Lines.Count(l => l.Line.StartsWith("REFUSED", StringComparison.Ordinal)))} refused writes");
        }
        finally
        {
            all.ForEach(c => c.Dispose());
        }
    }
}
