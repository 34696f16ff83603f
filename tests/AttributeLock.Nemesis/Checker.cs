using System.Globalization;
using System.Text.Json;

namespace AttributeLock.Nemesis;

/// <summary>
/// The independent checker. It reads only the files of a finished run: the clients' histories (ops-*.jsonl), the
/// nemesis's faults (faults.jsonl), etcd's whole history from revision 1 (etcd-history.jsonl) and the final counters
/// (final.json). It trusts etcd's history for what was applied: every counter value carries its writer's operation
/// id and fencing token, so writes of killed processes and writes whose answer never came are attributed too. The idle
/// holds (holds-*.jsonl, idle-actions.jsonl, samples.jsonl, kills.jsonl) are checked by <see cref="IdleHolds"/>.
/// </summary>
internal static class Checker
{
    private sealed record Write(string Key, long Rev, long Value, string Op, long Token, long HolderAtRev);

    private sealed class Hold
    {
        public long Create;
        public long End = long.MaxValue;
        public long LastWrite;
    }

    public static int Report(string dir, TextWriter o, bool unguardedControl)
    {
        var info = JsonSerializer.Deserialize<RunInfo>(File.ReadAllText(Path.Combine(dir, "run.json")), Json.Options)!;
        var ops = Directory.EnumerateFiles(dir, "ops-*.jsonl").SelectMany(Json.ReadLines<OpRecord>).ToList();
        string faultsFile = Path.Combine(dir, "faults.jsonl");
        var faults = File.Exists(faultsFile) ? Json.ReadLines<FaultRecord>(faultsFile).ToList() : [];
        var history = Json.ReadLines<HistoryEvent>(Path.Combine(dir, "etcd-history.jsonl")).OrderBy(e => e.Rev).ToList();
        var final = JsonSerializer.Deserialize<Dictionary<string, string>>(File.ReadAllText(Path.Combine(dir, "final.json")), Json.Options)!;

        // 1. Replay etcd's history: holds per lock key, and who held the lock key at each counter write.
        var current = new Dictionary<string, long>(StringComparer.Ordinal);
        var holds = new Dictionary<string, List<Hold>>(StringComparer.Ordinal);
        var holdByToken = new Dictionary<(string, long), Hold>();
        var writes = new List<Write>();
        int malformed = 0;
        foreach (HistoryEvent e in history)
        {
            if (e.Key.StartsWith(info.LockPrefix, StringComparison.Ordinal))
            {
                string key = e.Key[info.LockPrefix.Length..];
                if (e.Type == "put" && e.CreateRev == e.Rev)
                {
                    var h = new Hold { Create = e.Rev };
                    (holds.TryGetValue(key, out var list) ? list : holds[key] = []).Add(h);
                    holdByToken[(key, e.Rev)] = h;
                    current[key] = e.Rev;
                }
                else if (e.Type == "delete")
                {
                    if (current.TryGetValue(key, out long c) && holdByToken.TryGetValue((key, c), out Hold? h))
                    {
                        h.End = e.Rev;
                    }

                    current[key] = 0;
                }
            }
            else if (e.Key.StartsWith(info.CounterPrefix, StringComparison.Ordinal) && e.Type == "put")
            {
                string key = e.Key[info.CounterPrefix.Length..];
                string[] parts = e.Value.Split(' ');
                if (parts.Length != 3)
                {
                    malformed++;
                    continue;
                }

                long token = long.Parse(parts[2], CultureInfo.InvariantCulture);
                writes.Add(new Write(key, e.Rev, long.Parse(parts[0], CultureInfo.InvariantCulture), parts[1], token, current.GetValueOrDefault(key)));
                if (holdByToken.TryGetValue((key, token), out Hold? mine))
                {
                    mine.LastWrite = Math.Max(mine.LastWrite, e.Rev);
                }
            }
        }

        // 2. Operations against etcd's writes.
        var opsById = ops.GroupBy(r => r.Op).ToDictionary(g => g.Key, g => g.Last(), StringComparer.Ordinal);
        var writtenOps = writes.Select(w => w.Op).ToHashSet(StringComparer.Ordinal);
        int indeterminateApplied = writes.Count(w => opsById.TryGetValue(w.Op, out var r) && r.Outcome != "applied" && r.Outcome != "refused");
        int unrecorded = writes.Count(w => !opsById.ContainsKey(w.Op));
        int refusedButApplied = writes.Count(w => opsById.TryGetValue(w.Op, out var r) && r.Outcome == "refused");
        int appliedButAbsent = ops.Count(r => r.Outcome == "applied" && !writtenOps.Contains(r.Op));
        int appliedTwice = writes.Count - writes.Select(w => w.Op).Distinct(StringComparer.Ordinal).Count();
        int txnViewMismatch = writes.Count(w => opsById.TryGetValue(w.Op, out var r) && r.LockRevAtWrite is { } seen && seen != w.HolderAtRev);

        // 3. The four counts.
        int stale = writes.Count(w => w.Token != w.HolderAtRev);
        int overlaps = 0;
        foreach ((string _, List<Hold> list) in holds)
        {
            var sorted = list.OrderBy(h => h.Create).ToList();
            for (int i = 0; i < sorted.Count; i++)
            {
                long end = Math.Max(sorted[i].End, sorted[i].LastWrite + 1);
                for (int j = i + 1; j < sorted.Count && sorted[j].Create < end; j++)
                {
                    overlaps++;
                }
            }
        }

        var lostByKey = new SortedDictionary<string, (int Writes, long Final, int Lost)>(StringComparer.Ordinal);
        foreach (var g in writes.GroupBy(w => w.Key))
        {
            long finalValue = final.TryGetValue(info.CounterPrefix + g.Key, out string? v) ? long.Parse(v.Split(' ')[0], CultureInfo.InvariantCulture) : 0;
            // An operation whose transaction etcd applied twice (a retry after a reply lost to a member's kill) wrote the
            // same value twice: one increment.
            int increments = g.Select(w => w.Op).Distinct(StringComparer.Ordinal).Count();
            int lost = (int)(increments - finalValue) + ops.Count(r => r.Key == g.Key && r.Outcome == "applied" && !writtenOps.Contains(r.Op));
            lostByKey[g.Key] = (increments, finalValue, lost);
        }

        int lostIncrements = lostByKey.Values.Sum(x => Math.Max(0, x.Lost));
        var taken = ops.Where(r => r.Token is not null && (r.Outcome == "refused" || (r.KeyAtRelease is { } k && k != r.Token))).ToList();
        int unsignalled = taken.Count(r => !r.LostFired && r.LostAtCheck != true);
        int signalledByIsLostOnly = taken.Count(r => !r.LostFired && r.LostAtCheck == true);

        // 4. Report.
        o.WriteLine();
        o.WriteLine($"== checker: seed {info.Seed}, {(info.Guarded ? "guarded writes" : "UNGUARDED control")}, TTL {info.Ttl} s ==");
        o.WriteLine($"schedule: {faults.Count} faults: " + string.Join(", ", faults.GroupBy(f => f.Kind).OrderBy(g => g.Key).Select(g => $"{g.Key} {g.Count()}"))
            + $" (leader kills/pauses: {faults.Count(f => f.Leader)})");
        var campaign = ops.Where(r => r.Key != info.FairKey).ToList();
        o.WriteLine($"operations: {campaign.Count} in the fault phase: " + string.Join(", ", campaign.GroupBy(r => r.Outcome).OrderBy(g => g.Key).Select(g => $"{g.Key} {g.Count()}"))
            + $"; holds {campaign.Count(r => r.Token is not null)}, LostToken fired on {campaign.Count(r => r.LostFired)}; processes {campaign.Select(r => r.Client).Distinct().Count()}");
        o.WriteLine($"writes in etcd: {writes.Count} (recorded applied {ops.Count(r => r.Outcome == "applied")}, outcome unknown to the caller but applied {indeterminateApplied}, " +
            $"by killed processes {unrecorded}{(malformed > 0 ? $", malformed {malformed}" : "")}" +
            $"{(appliedTwice > 0 ? $"; {appliedTwice} applied again by a retried transaction: same operation, same value" : "")})");
        o.WriteLine("counters: " + string.Join("; ", lostByKey.Select(kv => $"{kv.Key} final {kv.Value.Final} after {kv.Value.Writes} writes")));
        if (refusedButApplied + appliedButAbsent + txnViewMismatch > 0)
        {
            o.WriteLine($"INCONSISTENT: refused but applied {refusedButApplied}, recorded applied but absent from etcd {appliedButAbsent}, transaction's view of the lock key differs from the history {txnViewMismatch}");
        }

        o.WriteLine($"overlapping hold pairs: {overlaps}");
        o.WriteLine($"lost increments:        {lostIncrements}");
        o.WriteLine($"accepted stale writes:  {stale}");
        IdleHolds.Result idle = IdleHolds.Analyze(dir, info, history, faults);
        int idleUnsignalled = idle.Unsignalled;
        int idleInconsistent = idle.Inconsistent;
        o.WriteLine($"unsignalled losses:     {unsignalled + idleUnsignalled} (locking operations: {unsignalled} of {taken.Count} holds whose key was taken before release" +
            $"{(signalledByIsLostOnly > 0 ? $", {signalledByIsLostOnly} seen by IsLost before LostToken's callback ran" : "")}; idle holds: {idle.Summary})");
        foreach (string line in idle.Lines)
        {
            o.WriteLine(line);
        }
        QueueChecker.Result queue = QueueChecker.Analyze(QueueChecker.Load(dir, info, history, faults, final));
        foreach (string line in queue.Lines)
        {
            o.WriteLine(line);
        }

        ReportLatency(o, campaign, faults, info);
        string timeline = Timeline.Write(dir, info, ops, faults, queue);
        o.WriteLine($"timeline: {timeline}");
        bool fair = ReportFairness(o, ops.Where(r => r.Key == info.FairKey && r.Token is not null).ToList(), info);

        int failures = queue.Failures + overlaps + lostIncrements + stale + unsignalled + idleUnsignalled + idleInconsistent + refusedButApplied + appliedButAbsent + txnViewMismatch + (fair ? 0 : 1);
        o.WriteLine(unguardedControl
            ? $"result: CONTROL (unguarded; not judged): {lostIncrements} lost increments, {stale} stale writes, {overlaps} overlaps; queue roles: {queue.Failures} violations"
            : failures == 0 ? "result: PASS" : $"result: FAIL ({failures})");
        return failures;
    }

    private static void ReportLatency(TextWriter o, List<OpRecord> ops, List<FaultRecord> faults, RunInfo info)
    {
        var latencies = new List<(string Kind, double Ms)>();
        int unattributed = 0;
        double window = 2 * info.Ttl * 1000 + 2000;
        foreach (OpRecord r in ops.Where(r => r.LostFired && r.LostMono is not null))
        {
            FaultRecord? cause = faults
                .Where(f => f.Kind != "compact" && f.StartMono <= r.LostMono && r.LostMono <= f.EndMono + window && (f.Slot < 0 || f.Slot == r.Slot))
                .OrderByDescending(f => f.StartMono).FirstOrDefault();
            if (cause is null)
            {
                unattributed++;
                continue;
            }

            latencies.Add((cause.Kind, r.LostMono!.Value - cause.StartMono));
        }

        o.WriteLine($"fault-to-signal latency (ms, fault injected → LostToken): {Stats(latencies.Select(l => l.Ms).ToList())}; losses not near a fault {unattributed}");
        foreach (var g in latencies.GroupBy(l => l.Kind).OrderBy(g => g.Key))
        {
            o.WriteLine($"  {g.Key,-16} {Stats(g.Select(l => l.Ms).ToList())}");
        }
    }

    internal static string Stats(List<double> values)
    {
        if (values.Count == 0)
        {
            return "n=0";
        }

        values.Sort();
        double P(double q) => values[Math.Min(values.Count - 1, (int)Math.Ceiling(q * values.Count) - 1)];
        return string.Create(CultureInfo.InvariantCulture, $"n={values.Count} p50={P(0.5):F0} p99={P(0.99):F0} max={values[^1]:F0}");
    }

    private static bool ReportFairness(TextWriter o, List<OpRecord> acquisitions, RunInfo info)
    {
        if (acquisitions.Count == 0)
        {
            o.WriteLine("fairness: no acquisitions recorded: FAIL");
            return false;
        }

        var order = acquisitions.OrderBy(r => r.Token).Select(r => r.Client).ToList();
        var shares = order.GroupBy(c => c).OrderBy(g => g.Key).Select(g => (Client: g.Key, Share: (double)g.Count() / order.Count)).ToList();
        int longest = 0;
        string? longestBy = null;
        int run = 0;
        for (int i = 0; i < order.Count; i++)
        {
            run = i > 0 && order[i] == order[i - 1] ? run + 1 : 1;
            if (run > longest)
            {
                longest = run;
                longestBy = order[i];
            }
        }

        double min = shares.Count < 2 ? 0 : shares.Min(s => s.Share);
        bool ok = shares.Count >= 2 && min >= info.FairnessMinShare;
        double seconds = (acquisitions.Max(r => r.EndMono) - acquisitions.Min(r => r.StartMono)) / 1000;
        o.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"fairness: {order.Count} acquisitions of one key by 2 processes x 2 callers in {seconds:F1} s: ") +
            string.Join(", ", shares.Select(s => string.Create(CultureInfo.InvariantCulture, $"{s.Client} {s.Share * 100:F1} %"))) +
            $"; longest run of one process: {longest} ({longestBy}, i.e. the other passed over {longest - 1} hand-offs in a row); " +
            string.Create(CultureInfo.InvariantCulture, $"bound: each process >= {info.FairnessMinShare * 100:F0} %: {(ok ? "OK" : "VIOLATED")}"));
        return ok;
    }
}
