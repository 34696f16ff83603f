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
/// (so one client can be partitioned alone), an idle holder process keeping a few hundred long-lived holds
/// (<see cref="IdleRole"/>, through proxies of its own), a seeded nemesis injecting faults — compactions, takeovers of
/// idle keys and resets of the idle holder's connections among them — then a fault-free fairness phase, a dump of
/// etcd's whole history (in pieces: the nemesis dumps it up to a revision before compacting there), and the
/// <see cref="Checker"/>.
/// </summary>
internal static class Driver
{
    private const string LockPrefix = "/nemesis/lock/";
    private const string CounterPrefix = "/nemesis/counter/";
    private const string IdlePrefix = "/nemesis/idle/";
    private const string MarkerPrefix = "/nemesis/marker/";
    internal const string ForeignValue = "nemesis-foreign";
    private const double FairnessMinShare = 0.35;

    private static readonly string[] s_kinds =
    [
        // Pausing a client and slowing its requests are what turns a lease's expiry into a stale write: twice the weight.
        "partition-client", "blackhole-client", "slow-client", "slow-client", "pause-client", "pause-client", "kill-client",
        "pause-member", "kill-member",
        // Compaction alone; idle keys taken over behind their holder's back; and the idle holder's connections reset
        // (its watch stream re-created from old revisions) with keys taken over meanwhile and a compaction ~0.5 s later:
        // etcd-io/etcd#17529, a watch behind at a compaction may be moved on without its events or the compaction's cancel.
        "compact", "takeover-idle", "reset-watch-streams", "reset-watch-streams",
    ];

    public static async Task<int> RunAsync(Args a)
    {
        int seed = a.Int("seed", Random.Shared.Next(1, 1_000_000));
        double minutes = a.Double("minutes", 1);
        bool guarded = !a.Has("unguarded");
        int clients = a.Int("clients", 3);
        int callers = a.Int("callers", 3);
        int ttl = a.Int("ttl", 2);
        int idleHolds = a.Int("idle-holds", 330);
        int idleTtl = a.Int("idle-ttl", 3);
        int semCallers = a.Int("sem-callers", 2);
        int rwCallers = a.Int("rw-callers", 2);
        bool leaders = !a.Has("no-leader");
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
            IdlePrefix = IdlePrefix, MarkerPrefix = MarkerPrefix, IdleHolds = idleHolds, IdleTtl = idleTtl,
            // A paused or cut-off holder learns late: the longest client fault (5 s) plus the TTL plus slack.
            IdleSignalBoundSeconds = idleTtl + 6,
            SemCallers = semCallers, RwCallers = rwCallers, Leaders = leaders ? clients : 0, SemMax = QueueLayout.SemMax,
            SemPrefix = QueueLayout.SemPrefix, SemMarkPrefix = QueueLayout.SemMarkPrefix, RwPrefix = QueueLayout.RwPrefix,
            RwCountPrefix = QueueLayout.RwCountPrefix, RwMarkPrefix = QueueLayout.RwMarkPrefix,
            ElectionPrefix = QueueLayout.ElectionPrefix, LeaderCountPrefix = QueueLayout.LeaderCountPrefix,
        };
        Console.WriteLine($"nemesis: seed {seed}, {minutes.ToString(CultureInfo.InvariantCulture)} min ({faultSeconds:F0} s of faults, {fairSeconds:F0} s of fairness), " +
            $"{(guarded ? "guarded writes" : "UNGUARDED control (plain puts)")}, {clients} client processes x {callers} callers, TTL {ttl} s; " +
            $"{idleHolds} idle holds (TTL {idleTtl} s) in one more process; " +
            $"queue roles in each client process: {semCallers} semaphore callers (MaxCount {QueueLayout.SemMax}), {rwCallers} reader-writer callers{(leaders ? ", 1 leader candidate" : "")}");
        Console.WriteLine($"nemesis: histories in {dir}");

        IReadOnlyList<EtcdServer> members = await EtcdServer.StartClusterAsync(3);
        // One more slot than client processes: the idle holder's.
        var proxies = new FaultProxy[clients + 1][];
        var running = new List<ClientProcess>();
        using var direct = new EtcdClient(string.Join(",", members.Select(m => m.Endpoint)));
        using var history = new HistoryLog(direct, Path.Combine(dir, "etcd-history.jsonl"));
        using var stopSampling = new CancellationTokenSource();
        Task sampling = Task.CompletedTask;
        try
        {
            for (int s = 0; s <= clients; s++)
            {
                proxies[s] = members.Select(m => new FaultProxy(m.Endpoint)).ToArray();
            }

            var ctx = new Context(dir, seed, guarded, ttl, callers, info, members, proxies, running) { Direct = direct, History = history };
            // The idle holder first: the fault phase begins once its holds are all taken (or after 20 s).
            ctx.StartIdle("idle.0");
            sampling = SampleAsync(ctx, stopSampling.Token);
            double warmup = Clock.Mono;
            while (ctx.LastAlive < idleHolds && Clock.Mono - warmup < 20_000)
            {
                await Task.Delay(200);
            }

            Console.WriteLine($"nemesis: {ctx.LastAlive} idle holds taken in {(Clock.Mono - warmup) / 1000:F1} s");
            long faultStart = Clock.Wall + 1500;
            long faultEnd = faultStart + (long)(faultSeconds * 1000);
            ctx.FaultEnd = faultEnd;
            info.FaultStartWall = faultStart;
            info.FaultEndWall = faultEnd;
            File.WriteAllText(Path.Combine(dir, "run.json"), Json.Line(info));
            // The idle holder releases its holds 1.5 s after the fault phase (it waits for this file to learn when).
            File.WriteAllText(Path.Combine(dir, "idle-until.tmp"), (faultEnd + 1500).ToString(CultureInfo.InvariantCulture));
            File.Move(Path.Combine(dir, "idle-until.tmp"), Path.Combine(dir, "idle-until"), overwrite: true);
            for (int s = 0; s < clients; s++)
            {
                ctx.StartClient(s, $"c{s}.0", string.Join(",", info.Keys), faultStart, faultEnd, workMs: 100, queueRoles: true);
            }

            await Task.Delay(TimeSpan.FromMilliseconds(faultStart - Clock.Wall + 1000));
            await NemesisAsync(ctx, seed, Clock.Mono + (faultEnd - Clock.Wall) - 3000);
            HealAll(ctx);
            await WaitClientsAsync(ctx, faultEnd + 25_000);
            stopSampling.Cancel();
            await sampling;

            // Fairness: two processes, equal demand, one key, no faults.
            await WaitHealthyAsync(members);
            long fairStart = Clock.Wall + 1500;
            long fairEnd = fairStart + (long)(fairSeconds * 1000);
            for (int s = 0; s < 2; s++)
            {
                ctx.StartClient(s, $"fair{s}", info.FairKey, fairStart, fairEnd, workMs: 5, callersOverride: 2);
            }

            await WaitClientsAsync(ctx, fairEnd + 25_000);
            await DumpHistoryAsync(direct, history, dir);
        }
        finally
        {
            stopSampling.Cancel();
            await sampling;
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

        /// <summary>The idle holder's slot: the last one.</summary>
        public int IdleSlot => Proxies.Length - 1;

        /// <summary>The id of the idle holder process running now (idle.0, then idle.1 after a kill...).</summary>
        public string IdleId { get; private set; } = "";

        /// <summary>A client of the members themselves, not through any client's proxy: the nemesis's own.</summary>
        public EtcdClient Direct { get; init; } = null!;

        public HistoryLog History { get; init; } = null!;

        public long LastCompacted { get; set; }

        /// <summary>The idle holds alive at the last sample.</summary>
        public volatile int LastAlive;

        public int ActionSeq { get; set; }

        public StreamWriter Actions { get; } = new(Path.Combine(Dir, "idle-actions.jsonl")) { AutoFlush = true };

        public StreamWriter Compactions { get; } = new(Path.Combine(Dir, "compactions.jsonl")) { AutoFlush = true };

        public StreamWriter Kills { get; } = new(Path.Combine(Dir, "kills.jsonl")) { AutoFlush = true };

        public void Killed(ClientProcess p)
        {
            lock (Kills)
            {
                Kills.WriteLine(Json.Line(new KillRecord { Pid = p.Pid, Client = p.Id, Wall = Clock.Wall }));
            }
        }

        public void StartIdle(string id)
        {
            var args = new List<string>
            {
                "idle", "--id", id, "--slot", IdleSlot.ToString(CultureInfo.InvariantCulture),
                "--endpoints", string.Join(",", Proxies[IdleSlot].Select(p => p.Endpoint)),
                "--idle-prefix", IdlePrefix, "--holds", Info.IdleHolds.ToString(CultureInfo.InvariantCulture),
                "--ttl", Info.IdleTtl.ToString(CultureInfo.InvariantCulture),
                "--until-file", Path.Combine(Dir, "idle-until"),
                "--out", Path.Combine(Dir, $"holds-{id}.jsonl"),
            };
            var process = ClientProcess.Start(id, args, Path.Combine(Dir, $"client-{id}.log"));
            Running.Add(process);
            BySlot[IdleSlot] = process;
            IdleId = id;
        }

        public void StartClient(int slot, string id, string keys, long start, long until, int workMs, int? callersOverride = null, bool queueRoles = false)
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

            if (queueRoles)
            {
                args.AddRange(["--sem-callers", Info.SemCallers.ToString(CultureInfo.InvariantCulture), "--rw-callers", Info.RwCallers.ToString(CultureInfo.InvariantCulture),
                    "--qout", Path.Combine(Dir, $"qops-{id}.jsonl"), "--tout", Path.Combine(Dir, $"terms-{id}.jsonl")]);
                if (Info.Leaders > 0)
                {
                    args.Add("--leader");
                }
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
            int count = 3 + rng.Next(18);
            double v = rng.NextDouble();
            int mix = rng.Next();
            int ttlMs = ctx.Ttl * 1000;
            int durationMs = kind switch
            {
                "pause-client" => ttlMs + 500 + (int)(u * 2500),
                "slow-client" => 2000 + (int)(u * 3000),
                "kill-client" => 300 + (int)(u * 700),
                "kill-member" => 500 + (int)(u * 2500),
                "compact" or "takeover-idle" => 500,
                "reset-watch-streams" => 2500,
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
            else if (kind is "takeover-idle" or "reset-watch-streams")
            {
                f.Slot = ctx.IdleSlot;
            }
            else if (kind is "compact")
            {
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
                    if (p is not null)
                    {
                        ctx.Killed(p);
                    }

                    p?.Signal(ClientProcess.SIGKILL);
                    await Task.Delay(durationMs);
                    if (slot == ctx.IdleSlot)
                    {
                        string id = $"idle.{++generation[slot]}";
                        ctx.StartIdle(id);
                        f.Detail += $", restarted as {id}";
                    }
                    else
                    {
                        string id = $"c{slot}.{++generation[slot]}";
                        ctx.StartClient(slot, id, string.Join(",", ctx.Info.Keys), 0, ctx.FaultEnd, workMs: 100, queueRoles: true);
                        f.Detail += $", restarted as {id}";
                    }

                    break;
                }
                case "compact":
                {
                    CompactionRecord c = await CompactAsync(ctx, f, await PrepareCompactionAsync(ctx));
                    f.Detail = c.Ok ? $"at rev {c.Rev}" : $"at rev {c.Rev} FAILED: {c.Error}";
                    f.IdleAlive = ctx.LastAlive;
                    break;
                }
                case "takeover-idle":
                {
                    TakeOver? plan = await PlanTakeOverAsync(ctx, f, count, mix);
                    List<IdleAction> acts = await TakeOverAsync(ctx, plan);
                    f.Detail = $"{Describe(acts)}; {plan?.Alive ?? -1} idle holds alive";
                    f.IdleAlive = plan?.Alive;
                    break;
                }
                case "reset-watch-streams":
                {
                    // The idle holder's open connections are reset (its watch stream with them) and stay refused for a
                    // moment; meanwhile some of its keys are taken over; then a compaction, while the re-created watches
                    // (from old revisions: behind) catch up.
                    // The holder re-opens its watch stream 0.5 s after it failed (and after reconnecting): a compaction
                    // 0.25-0.75 s after the reset mostly lands before its watches are re-created, so each of them is
                    // behind the compaction when etcd first syncs it — hundreds at once on one stream.
                    FaultProxy[] idleProxies = ctx.Proxies[ctx.IdleSlot];
                    int outageMs = 200 + (int)(u * 300);
                    int compactAfterMs = 250 + (int)(v * 500);
                    TakeOver? plan = await PlanTakeOverAsync(ctx, f, count, mix);
                    f.StartMono = Clock.Mono;
                    f.StartWall = Clock.Wall;
                    double t = f.StartMono;
                    Array.ForEach(idleProxies, p => p.Cut());
                    List<IdleAction> acts = await TakeOverAsync(ctx, plan);
                    // The compaction's revision (after the takeovers) and the history up to it, before the timed part.
                    long? rev = await PrepareCompactionAsync(ctx);
                    await DelayUntilAsync(t + outageMs);
                    Array.ForEach(idleProxies, p => p.Heal());
                    await DelayUntilAsync(t + compactAfterMs);
                    double compactAt = Clock.Mono - t;
                    CompactionRecord c = await CompactAsync(ctx, f, rev);
                    f.IdleAlive = plan?.Alive;
                    f.Detail = $"outage {outageMs} ms; {Describe(acts)}; {plan?.Alive ?? -1} idle holds alive; " +
                        (c.Ok ? $"compacted at rev {c.Rev} {compactAt:F0}-{(c.EndWall - f.StartWall):F0} ms after the reset" : $"compaction at rev {c.Rev} FAILED: {c.Error}");
                    await Task.Delay(1000);
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
            string target = f.Slot == ctx.IdleSlot ? $"idle slot {f.Slot}" : f.Slot >= 0 ? $"client slot {f.Slot}"
                : f.Member >= 0 ? $"member m{f.Member}{(f.Leader ? " (leader)" : "")}" : "cluster";
            Console.WriteLine($"  [{(f.StartMono - t0) / 1000,6:F1} s] #{f.Seq,-3} {kind,-16} {target,-20} {(f.EndMono - f.StartMono) / 1000:F1} s {f.Detail}");
        }
    }

    private static async Task DelayUntilAsync(double mono)
    {
        double left = mono - Clock.Mono;
        if (left > 0)
        {
            await Task.Delay(TimeSpan.FromMilliseconds(left));
        }
    }

    private static string Describe(List<IdleAction> acts) =>
        $"{acts.Count(x => x.Outcome == "applied")} idle keys taken over (" +
        string.Join(", ", acts.Where(x => x.Outcome == "applied").GroupBy(x => x.Kind).OrderBy(g => g.Key).Select(g => $"{g.Key} {g.Count()}")) + ")" +
        (acts.Any(x => x.Outcome != "applied") ? $", {acts.Count(x => x.Outcome != "applied")} not applied" : "");

    private static CallOptions Deadline(double seconds) => new(deadline: DateTime.UtcNow.AddSeconds(seconds));

    /// <summary>
    /// The cluster's current revision, with etcd's history dumped up to it (so the checker still sees every event once
    /// it is compacted); null when it cannot be read.
    /// </summary>
    private static async Task<long?> PrepareCompactionAsync(Context ctx)
    {
        try
        {
            RangeResponse now = await ctx.Direct.GetConnection().KVClient.RangeAsync(new RangeRequest { Key = ByteString.CopyFromUtf8(CounterPrefix), CountOnly = true }, Deadline(2));
            await ctx.History.DumpToAsync(now.Header.Revision);
            return now.Header.Revision;
        }
        catch (Exception ex) when (ex is RpcException or OperationCanceledException or IOException or HttpRequestException)
        {
            return null;
        }
    }

    /// <summary>Compacts the cluster at <paramref name="rev"/> (prepared), through the nemesis's own client.</summary>
    private static async Task<CompactionRecord> CompactAsync(Context ctx, FaultRecord f, long? rev)
    {
        var rec = new CompactionRecord { FaultSeq = f.Seq, StartWall = Clock.Wall, Rev = rev ?? 0 };
        try
        {
            if (rev is null)
            {
                rec.Error = "the revision could not be read";
            }
            else if (rev <= ctx.LastCompacted)
            {
                rec.Error = "nothing new to compact";
            }
            else
            {
                await ctx.Direct.GetConnection().KVClient.CompactAsync(new CompactionRequest { Revision = rev.Value }, Deadline(5));
                ctx.LastCompacted = rev.Value;
                rec.Ok = true;
            }
        }
        catch (Exception ex) when (ex is RpcException or OperationCanceledException or IOException or HttpRequestException)
        {
            rec.Error = ex.GetType().Name + ": " + ex.Message.Split('\n')[0];
        }

        rec.EndWall = Clock.Wall;
        ctx.Compactions.WriteLine(Json.Line(rec));
        return rec;
    }

    private sealed record TakeOver(List<IdleAction> Actions, int Alive);

    /// <summary>
    /// Picks <paramref name="count"/> keys the current idle holder holds (read through the nemesis's own client) and
    /// grants the foreign lease, so that the takeover itself is quick. Each key is to be deleted, overwritten under the
    /// foreign lease (same create revision, another lease), or deleted and created again under the foreign lease.
    /// </summary>
    private static async Task<TakeOver?> PlanTakeOverAsync(Context ctx, FaultRecord f, int count, int mix)
    {
        var connection = ctx.Direct.GetConnection();
        string prefix = IdlePrefix + ctx.IdleId + "/";
        List<Mvccpb.KeyValue> held;
        long foreign;
        try
        {
            RangeResponse range = await connection.KVClient.RangeAsync(new RangeRequest { Key = ByteString.CopyFromUtf8(prefix), RangeEnd = ByteString.CopyFromUtf8(prefix[..^1] + "0") }, Deadline(2));
            held = range.Kvs.Where(k => k.Lease != 0 && !k.Value.ToStringUtf8().StartsWith(ForeignValue, StringComparison.Ordinal))
                .OrderBy(k => k.Key.ToStringUtf8(), StringComparer.Ordinal).ToList();
            // Not kept alive: the key falls free 3 s later and its holder can take it again.
            foreign = (await connection.LeaseClient.LeaseGrantAsync(new LeaseGrantRequest { TTL = 3 }, Deadline(2))).ID;
        }
        catch (Exception ex) when (ex is RpcException or OperationCanceledException or IOException or HttpRequestException)
        {
            return null;
        }

        var pick = new Random(mix);
        string[] kinds = ["delete", "overwrite", "recreate"];
        var acts = held.OrderBy(_ => pick.Next()).Take(count).Select(k => new IdleAction
        {
            FaultSeq = f.Seq, Seq = ++ctx.ActionSeq, Kind = kinds[pick.Next(kinds.Length)], Key = k.Key.ToStringUtf8(),
            Token = k.CreateRevision, Lease = k.Lease, ForeignLease = foreign,
        }).ToList();
        return new TakeOver(acts, held.Count);
    }

    /// <summary>
    /// The planned takeovers, all at once. Each transaction is guarded by the hold's create revision and lease as read
    /// when planning, and puts a marker key, so the action has its revision in etcd's history.
    /// </summary>
    private static async Task<List<IdleAction>> TakeOverAsync(Context ctx, TakeOver? plan)
    {
        if (plan is null)
        {
            return [];
        }

        KV.KVClient kv = ctx.Direct.GetConnection().KVClient;
        await Task.WhenAll(plan.Actions.Select(x => ActAsync(kv, x)));
        foreach (IdleAction x in plan.Actions)
        {
            ctx.Actions.WriteLine(Json.Line(x));
        }

        return plan.Actions;
    }

    private static async Task ActAsync(KV.KVClient kv, IdleAction x)
    {
        ByteString key = ByteString.CopyFromUtf8(x.Key);
        ByteString foreignValue = ByteString.CopyFromUtf8($"{ForeignValue} {x.Seq}");
        RequestOp Marker(string part) => new()
        {
            RequestPut = new PutRequest { Key = ByteString.CopyFromUtf8($"{MarkerPrefix}{x.Seq}{part}"), Value = ByteString.CopyFromUtf8($"{x.Kind} {x.Key} {x.Token}") },
        };
        var txn = new TxnRequest();
        txn.Compare.Add(new Compare { Key = key, Target = Compare.Types.CompareTarget.Create, Result = Compare.Types.CompareResult.Equal, CreateRevision = x.Token });
        txn.Compare.Add(new Compare { Key = key, Target = Compare.Types.CompareTarget.Lease, Result = Compare.Types.CompareResult.Equal, Lease = x.Lease });
        txn.Success.Add(x.Kind == "overwrite"
            ? new RequestOp { RequestPut = new PutRequest { Key = key, Value = foreignValue, Lease = x.ForeignLease } }
            : new RequestOp { RequestDeleteRange = new DeleteRangeRequest { Key = key } });
        txn.Success.Add(Marker(""));
        x.StartWall = Clock.Wall;
        try
        {
            TxnResponse answer = await kv.TxnAsync(txn, Deadline(3));
            x.EndWall = Clock.Wall;
            x.Rev = answer.Succeeded ? answer.Header.Revision : 0;
            x.Outcome = answer.Succeeded ? "applied" : "skipped";
            if (answer.Succeeded && x.Kind == "recreate")
            {
                var again = new TxnRequest();
                again.Compare.Add(new Compare { Key = key, Target = Compare.Types.CompareTarget.Create, Result = Compare.Types.CompareResult.Equal, CreateRevision = 0 });
                again.Success.Add(new RequestOp { RequestPut = new PutRequest { Key = key, Value = foreignValue, Lease = x.ForeignLease } });
                again.Success.Add(Marker("/again"));
                await kv.TxnAsync(again, Deadline(3));
            }
        }
        catch (Exception ex) when (ex is RpcException or OperationCanceledException or IOException or HttpRequestException)
        {
            if (x.EndWall == 0)
            {
                x.EndWall = Clock.Wall;
                x.Outcome = "error";
            }

            x.Error = ex is RpcException rpc ? rpc.StatusCode + ": " + rpc.Status.Detail : ex.GetType().Name + ": " + ex.Message;
        }
    }

    /// <summary>Every 500 ms: the idle holds alive in etcd, and the revision then (the checker's clock for revisions).</summary>
    private static async Task SampleAsync(Context ctx, CancellationToken stop)
    {
        using var output = new StreamWriter(Path.Combine(ctx.Dir, "samples.jsonl")) { AutoFlush = true };
        KV.KVClient kv = ctx.Direct.GetConnection().KVClient;
        while (!stop.IsCancellationRequested)
        {
            try
            {
                RangeResponse range = await kv.RangeAsync(new RangeRequest { Key = ByteString.CopyFromUtf8(IdlePrefix), RangeEnd = ByteString.CopyFromUtf8(IdlePrefix[..^1] + "0") }, Deadline(1));
                int foreign = range.Kvs.Count(k => k.Value.ToStringUtf8().StartsWith(ForeignValue, StringComparison.Ordinal));
                output.WriteLine(Json.Line(new Sample { Wall = Clock.Wall, Rev = range.Header.Revision, Alive = range.Kvs.Count - foreign, Foreign = foreign }));
                ctx.LastAlive = range.Kvs.Count - foreign;
            }
            catch (Exception ex) when (ex is RpcException or OperationCanceledException or IOException or HttpRequestException)
            {
                // A member down or paused (a deadline can surface as a plain cancellation): the next sample.
            }

            try
            {
                await Task.Delay(500, stop);
            }
            catch (OperationCanceledException)
            {
                return;
            }
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

    private static async Task WaitClientsAsync(Context ctx, long deadlineWall)
    {
        foreach (ClientProcess p in ctx.Running)
        {
            long left = Math.Max(0, deadlineWall - Clock.Wall);
            if (!await p.WaitAsync(TimeSpan.FromMilliseconds(left)))
            {
                Console.WriteLine($"  warning: client {p.Id} did not stop by itself; killed");
                ctx.Killed(p);
                p.KillIfRunning();
            }
        }
    }

    /// <summary>The final counters, and the rest of etcd's history (the nemesis dumped what it compacted).</summary>
    private static async Task DumpHistoryAsync(EtcdClient direct, HistoryLog history, string dir)
    {
        // The queue roles' counters too (one read of the whole /nemesis/ space, at one revision).
        RangeResponse counters = await direct.GetConnection().KVClient.RangeAsync(
            QueueLayout.PrefixRange("/nemesis/"), new CallOptions(deadline: DateTime.UtcNow.AddSeconds(10)));
        string[] prefixes = [CounterPrefix, QueueLayout.RwCountPrefix, QueueLayout.LeaderCountPrefix];
        File.WriteAllText(Path.Combine(dir, "final.json"), Json.Line(counters.Kvs.Where(k => prefixes.Any(p => k.Key.ToStringUtf8().StartsWith(p, StringComparison.Ordinal)))
            .ToDictionary(k => k.Key.ToStringUtf8(), k => k.Value.ToStringUtf8())));
        await history.DumpToAsync(counters.Header.Revision);
    }
}
