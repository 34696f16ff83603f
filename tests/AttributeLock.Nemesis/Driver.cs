using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using AttributeLock.EtcdFixture;
using dotnet_etcd;
using Etcdserverpb;
using Google.Protobuf;
using Grpc.Core;

namespace AttributeLock.Nemesis;

/// <summary>
/// The driver: a 3-member etcd cluster, client processes that reach it through a <see cref="FaultProxy"/> per member
/// (so one client can be partitioned alone), a seeded nemesis injecting faults, then a fault-free fairness phase, a dump
/// of etcd's whole history, and the <see cref="Checker"/>.
/// </summary>
internal static class Driver
{
    private const string LockPrefix = "/nemesis/lock/";
    private const string CounterPrefix = "/nemesis/counter/";
    private const double FairnessMinShare = 0.35;

    private static readonly string[] s_kinds =
    [
        // Pausing a client and slowing its requests are what turns a lease's expiry into a stale write: twice the weight.
        "partition-client", "blackhole-client", "slow-client", "slow-client", "pause-client", "pause-client", "kill-client",
        "pause-member", "kill-member",
    ];

    public static async Task<int> RunAsync(Args a)
    {
        int seed = a.Int("seed", Random.Shared.Next(1, 1_000_000));
        double minutes = a.Double("minutes", 1);
        bool guarded = !a.Has("unguarded");
        int clients = a.Int("clients", 3);
        int callers = a.Int("callers", 3);
        int ttl = a.Int("ttl", 2);
        double total = minutes * 60;
        double fairSeconds = Math.Clamp(total * 0.2, 8, 30);
        double faultSeconds = Math.Max(10, total - fairSeconds);
        string dir = a.Get("out", Path.Combine(Path.GetTempPath(), $"nemesis-{seed}-{(guarded ? "guarded" : "unguarded")}-{DateTime.UtcNow:yyyyMMdd-HHmmss}"));
        Directory.CreateDirectory(dir);
        var info = new RunInfo
        {
            Seed = seed, Minutes = minutes, Guarded = guarded, Ttl = ttl, Clients = clients, Callers = callers,
            Keys = ["k0", "k1", "k2", "k3", "k4"], FairKey = "fair", FaultPhaseSeconds = faultSeconds, FairnessPhaseSeconds = fairSeconds,
            FairnessMinShare = FairnessMinShare, LockPrefix = LockPrefix, CounterPrefix = CounterPrefix,
        };
        File.WriteAllText(Path.Combine(dir, "run.json"), Json.Line(info));
        Console.WriteLine($"nemesis: seed {seed}, {minutes.ToString(CultureInfo.InvariantCulture)} min ({faultSeconds:F0} s of faults, {fairSeconds:F0} s of fairness), " +
            $"{(guarded ? "guarded writes" : "UNGUARDED control (plain puts)")}, {clients} client processes x {callers} callers, TTL {ttl} s");
        Console.WriteLine($"nemesis: histories in {dir}");

        IReadOnlyList<EtcdServer> members = await EtcdServer.StartClusterAsync(3);
        var proxies = new FaultProxy[clients][];
        var running = new List<ClientProcess>();
        try
        {
            for (int s = 0; s < clients; s++)
            {
                proxies[s] = members.Select(m => new FaultProxy(m.Endpoint)).ToArray();
            }

            var ctx = new Context(dir, seed, guarded, ttl, callers, info, members, proxies, running);
            long faultStart = Clock.Wall + 1500;
            long faultEnd = faultStart + (long)(faultSeconds * 1000);
            ctx.FaultEnd = faultEnd;
            for (int s = 0; s < clients; s++)
            {
                ctx.StartClient(s, $"c{s}.0", string.Join(",", info.Keys), faultStart, faultEnd, workMs: 100);
            }

            await Task.Delay(TimeSpan.FromMilliseconds(faultStart - Clock.Wall + 1000));
            await NemesisAsync(ctx, seed, Clock.Mono + (faultEnd - Clock.Wall) - 3000);
            HealAll(ctx);
            await WaitClientsAsync(running, faultEnd + 25_000);

            // Fairness: two processes, equal demand, one key, no faults.
            await WaitHealthyAsync(members);
            long fairStart = Clock.Wall + 1500;
            long fairEnd = fairStart + (long)(fairSeconds * 1000);
            for (int s = 0; s < 2; s++)
            {
                ctx.StartClient(s, $"fair{s}", info.FairKey, fairStart, fairEnd, workMs: 5, callersOverride: 2);
            }

            await WaitClientsAsync(running, fairEnd + 25_000);
            await DumpHistoryAsync(members, dir);
        }
        finally
        {
            foreach (ClientProcess p in running)
            {
                p.KillIfRunning();
            }

            foreach (FaultProxy proxy in proxies.Where(p => p is not null).SelectMany(p => p))
            {
                await proxy.DisposeAsync();
            }

            foreach (EtcdServer member in members)
            {
                await member.DisposeAsync();
            }
        }

        int failures = Checker.Report(dir, Console.Out, unguardedControl: !guarded);
        Console.WriteLine($"replay: scripts/nemesis.sh --seed {seed} --minutes {minutes.ToString(CultureInfo.InvariantCulture)}{(guarded ? "" : " --unguarded")}");
        return guarded ? failures : 0;
    }

    private sealed record Context(string Dir, int Seed, bool Guarded, int Ttl, int Callers, RunInfo Info, IReadOnlyList<EtcdServer> Members, FaultProxy[][] Proxies, List<ClientProcess> Running)
    {
        public ClientProcess?[] BySlot { get; } = new ClientProcess?[Proxies.Length];

        public long FaultEnd { get; set; }

        public void StartClient(int slot, string id, string keys, long start, long until, int workMs, int? callersOverride = null)
        {
            var args = new List<string>
            {
                "client", "--id", id, "--slot", slot.ToString(CultureInfo.InvariantCulture),
                "--endpoints", string.Join(",", Proxies[slot].Select(p => p.Endpoint)),
                "--keys", keys, "--lock-prefix", LockPrefix, "--counter-prefix", CounterPrefix,
                "--callers", (callersOverride ?? Callers).ToString(CultureInfo.InvariantCulture),
                "--ttl", Ttl.ToString(CultureInfo.InvariantCulture),
                "--start", start.ToString(CultureInfo.InvariantCulture), "--until", until.ToString(CultureInfo.InvariantCulture),
                "--work-ms", workMs.ToString(CultureInfo.InvariantCulture), "--seed", Seed.ToString(CultureInfo.InvariantCulture),
                "--out", Path.Combine(Dir, $"ops-{id}.jsonl"),
            };
            if (!Guarded)
            {
                args.Add("--unguarded");
            }

            var process = ClientProcess.Start(id, args, Path.Combine(Dir, $"client-{id}.log"));
            Running.Add(process);
            BySlot[slot] = process;
        }
    }

    private static async Task NemesisAsync(Context ctx, int seed, double endMono)
    {
        var rng = new Random(seed);
        double t0 = Clock.Mono;
        int seq = 0;
        var generation = new int[ctx.Proxies.Length];
        using var faults = new StreamWriter(Path.Combine(ctx.Dir, "faults.jsonl")) { AutoFlush = true };
        while (true)
        {
            // Every fault draws the same numbers whatever its kind: the schedule depends on the seed alone.
            int gapMs = 500 + rng.Next(2000);
            string kind = s_kinds[rng.Next(s_kinds.Length)];
            int slot = rng.Next(ctx.Proxies.Length);
            int member = rng.Next(ctx.Members.Count);
            bool leader = rng.Next(2) == 0;
            double u = rng.NextDouble();
            int ttlMs = ctx.Ttl * 1000;
            int durationMs = kind switch
            {
                "pause-client" => ttlMs + 500 + (int)(u * 2500),
                "slow-client" => 2000 + (int)(u * 3000),
                "kill-client" => 300 + (int)(u * 700),
                "kill-member" => 500 + (int)(u * 2500),
                _ => 1000 + (int)(u * 4000),
            };
            await Task.Delay(gapMs);
            if (Clock.Mono + durationMs + 2000 > endMono)
            {
                break;
            }

            var f = new FaultRecord { Seq = ++seq, Kind = kind };
            if (kind.EndsWith("-client", StringComparison.Ordinal))
            {
                f.Slot = slot;
            }
            else
            {
                f.Leader = leader;
                f.Member = leader ? await FindLeaderAsync(ctx.Members) ?? member : member;
            }

            f.StartMono = Clock.Mono;
            f.StartWall = Clock.Wall;
            FaultProxy[] slotProxies = ctx.Proxies[slot];
            switch (kind)
            {
                case "partition-client":
                    Array.ForEach(slotProxies, p => p.Cut());
                    await Task.Delay(durationMs);
                    Array.ForEach(slotProxies, p => p.Heal());
                    break;
                case "blackhole-client":
                    Array.ForEach(slotProxies, p => p.BlackHole());
                    await Task.Delay(durationMs);
                    Array.ForEach(slotProxies, p => p.Heal());
                    break;
                case "slow-client":
                    // Requests (renewals, the write itself) arrive TTL + 1 s late: the classic stale write.
                    Array.ForEach(slotProxies, p => p.SetLatency(TimeSpan.FromMilliseconds(ttlMs + 1000), Direction.ClientToTarget));
                    f.Detail = $"+{ttlMs + 1000} ms on requests";
                    await Task.Delay(durationMs);
                    Array.ForEach(slotProxies, p => p.Heal());
                    break;
                case "pause-client":
                {
                    ClientProcess? p = ctx.BySlot[slot];
                    f.Detail = $"pid {p?.Pid}";
                    p?.Signal(ClientProcess.SIGSTOP);
                    await Task.Delay(durationMs);
                    p?.Signal(ClientProcess.SIGCONT);
                    break;
                }
                case "kill-client":
                {
                    ClientProcess? p = ctx.BySlot[slot];
                    f.Detail = $"pid {p?.Pid}";
                    p?.Signal(ClientProcess.SIGKILL);
                    await Task.Delay(durationMs);
                    string id = $"c{slot}.{++generation[slot]}";
                    ctx.StartClient(slot, id, string.Join(",", ctx.Info.Keys), 0, ctx.FaultEnd, workMs: 100);
                    f.Detail += $", restarted as {id}";
                    break;
                }
                case "pause-member":
                    ctx.Members[f.Member].Pause();
                    await Task.Delay(durationMs);
                    ctx.Members[f.Member].Resume();
                    break;
                case "kill-member":
                    await ctx.Members[f.Member].KillAsync();
                    await Task.Delay(durationMs);
                    await ctx.Members[f.Member].StartAgainAsync();
                    break;
            }

            f.EndMono = Clock.Mono;
            f.EndWall = Clock.Wall;
            faults.WriteLine(Json.Line(f));
            string target = f.Slot >= 0 ? $"client slot {f.Slot}" : $"member m{f.Member}{(f.Leader ? " (leader)" : "")}";
            Console.WriteLine($"  [{(f.StartMono - t0) / 1000,6:F1} s] #{f.Seq,-3} {kind,-16} {target,-20} {(f.EndMono - f.StartMono) / 1000:F1} s {f.Detail}");
        }
    }

    private static void HealAll(Context ctx)
    {
        foreach (FaultProxy p in ctx.Proxies.SelectMany(p => p))
        {
            p.Heal();
        }
    }

    private static async Task<int?> FindLeaderAsync(IReadOnlyList<EtcdServer> members)
    {
        for (int i = 0; i < members.Count; i++)
        {
            try
            {
                using var client = new EtcdClient(members[i].Endpoint);
                StatusResponse status = await client.GetConnection().MaintenanceClient.StatusAsync(new StatusRequest(), new CallOptions(deadline: DateTime.UtcNow.AddSeconds(1)));
                if (status.Leader != 0)
                {
                    for (int j = 0; j < members.Count; j++)
                    {
                        using var other = new EtcdClient(members[j].Endpoint);
                        StatusResponse s = await other.GetConnection().MaintenanceClient.StatusAsync(new StatusRequest(), new CallOptions(deadline: DateTime.UtcNow.AddSeconds(1)));
                        if (s.Header.MemberId == status.Leader)
                        {
                            return j;
                        }
                    }
                }
            }
            catch (RpcException)
            {
                // Down or paused: ask the next one.
            }
        }

        return null;
    }

    private static async Task WaitHealthyAsync(IReadOnlyList<EtcdServer> members)
    {
        for (int i = 0; i < 100; i++)
        {
            bool[] healthy = await Task.WhenAll(members.Select(m => m.IsHealthyAsync()));
            if (healthy.All(h => h))
            {
                return;
            }

            await Task.Delay(200);
        }
    }

    private static async Task WaitClientsAsync(List<ClientProcess> running, long deadlineWall)
    {
        foreach (ClientProcess p in running)
        {
            long left = Math.Max(0, deadlineWall - Clock.Wall);
            if (!await p.WaitAsync(TimeSpan.FromMilliseconds(left)))
            {
                Console.WriteLine($"  warning: client {p.Id} did not stop by itself; killed");
                p.KillIfRunning();
            }
        }
    }

    /// <summary>Every event of etcd's history from revision 1 (no compaction runs), and the final counters.</summary>
    private static async Task DumpHistoryAsync(IReadOnlyList<EtcdServer> members, string dir)
    {
        using var client = new EtcdClient(string.Join(",", members.Select(m => m.Endpoint)));
        var connection = client.GetConnection();
        RangeResponse counters = await connection.KVClient.RangeAsync(
            new RangeRequest { Key = ByteString.CopyFromUtf8(CounterPrefix), RangeEnd = ByteString.CopyFromUtf8(CounterPrefix[..^1] + "0") },
            new CallOptions(deadline: DateTime.UtcNow.AddSeconds(10)));
        long head = counters.Header.Revision;
        File.WriteAllText(Path.Combine(dir, "final.json"), Json.Line(counters.Kvs.ToDictionary(k => k.Key.ToStringUtf8(), k => k.Value.ToStringUtf8())));
        using var output = new StreamWriter(Path.Combine(dir, "etcd-history.jsonl"));
        if (head <= 1)
        {
            return;
        }

        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        using AsyncDuplexStreamingCall<WatchRequest, WatchResponse> call = connection.WatchClient.Watch(cancellationToken: cts.Token);
        await call.RequestStream.WriteAsync(new WatchRequest
        {
            CreateRequest = new WatchCreateRequest { Key = ByteString.CopyFrom(0), RangeEnd = ByteString.CopyFrom(0), StartRevision = 1 },
        });
        while (await call.ResponseStream.MoveNext(cts.Token))
        {
            bool done = false;
            foreach (Mvccpb.Event e in call.ResponseStream.Current.Events)
            {
                output.WriteLine(Json.Line(new HistoryEvent
                {
                    Rev = e.Kv.ModRevision,
                    Type = e.Type == Mvccpb.Event.Types.EventType.Put ? "put" : "delete",
                    Key = e.Kv.Key.ToStringUtf8(),
                    Value = e.Kv.Value.ToStringUtf8(),
                    CreateRev = e.Kv.CreateRevision,
                    Lease = e.Kv.Lease,
                }));
                done |= e.Kv.ModRevision >= head;
            }

            if (done)
            {
                break;
            }
        }

        await call.RequestStream.CompleteAsync();
    }
}

/// <summary>A client OS process (this tool in the <c>client</c> role), with its output in a log file.</summary>
internal sealed class ClientProcess
{
    public const int SIGKILL = 9;
    public const int SIGCONT = 18;
    public const int SIGSTOP = 19;

    private readonly Process _process;
    private ClientProcess(string id, Process process)
    {
        Id = id;
        _process = process;
    }

    public string Id { get; }

    public int Pid => _process.Id;

    [DllImport("libc", SetLastError = true)]
    private static extern int kill(int pid, int sig);

    public static ClientProcess Start(string id, List<string> args, string log)
    {
        string self = Environment.ProcessPath!;
        var psi = new ProcessStartInfo("/bin/sh") { UseShellExecute = false };
        psi.ArgumentList.Add("-c");
        psi.ArgumentList.Add($"exec \"$0\" \"$@\" >>'{log}' 2>&1");
        psi.ArgumentList.Add(self);
        if (Path.GetFileNameWithoutExtension(self) == "dotnet")
        {
            psi.ArgumentList.Add(typeof(ClientProcess).Assembly.Location);
        }

        foreach (string arg in args)
        {
            psi.ArgumentList.Add(arg);
        }

        return new ClientProcess(id, Process.Start(psi)!);
    }

    public void Signal(int sig)
    {
        if (!_process.HasExited)
        {
            kill(_process.Id, sig);
        }
    }

    public async Task<bool> WaitAsync(TimeSpan limit)
    {
        using var cts = new CancellationTokenSource(limit);
        try
        {
            await _process.WaitForExitAsync(cts.Token);
            return true;
        }
        catch (OperationCanceledException)
        {
            return _process.HasExited;
        }
    }

    public void KillIfRunning()
    {
        if (!_process.HasExited)
        {
            kill(_process.Id, SIGCONT);
            kill(_process.Id, SIGKILL);
        }
    }
}
