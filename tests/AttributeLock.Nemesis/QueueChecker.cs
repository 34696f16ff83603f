using System.Globalization;
using System.Text.Json;

namespace AttributeLock.Nemesis;

/// <summary>
/// The checker of the queue roles (<see cref="QueueRoles"/>), from etcd's history only: it replays every ticket key
/// (semaphore tickets, readers, writers, candidates: created and deleted) and judges each guarded write in the history
/// by its ticket's rank among the live keys at the write's revision — waiting tickets are live keys too, so "live" is
/// not "holding". What the clients recorded is used only to attribute (process, times) and to cross-check (the
/// transaction's own Range of the tickets must agree with the replay).
/// </summary>
internal static class QueueChecker
{
    /// <summary>A ticket key as etcd's history shows it.</summary>
    internal sealed class Ticket
    {
        public string Key = "";
        /// <summary>sem:s0, rw:rw0, leader:e0.</summary>
        public string Prim = "";
        /// <summary>sem, r, w, cand.</summary>
        public string Kind = "";
        public long Create;
        public long End = long.MaxValue;
        public int MaxCount;
        public string Holder = "";
    }

    /// <summary>One write of a queue role found in etcd's history.</summary>
    internal sealed record QWrite(string Role, string Name, long Rev, long Value, string Op, long Token, string? Violation, int Older);

    internal sealed class Result
    {
        public int Failures;
        public List<string> Lines { get; } = [];
        /// <summary>Per semaphore (s0...): the number of tickets holding (rank &lt; MaxCount), at each revision it changed.</summary>
        public Dictionary<string, List<(long Rev, int Holding)>> SemHolding { get; } = new(StringComparer.Ordinal);
        public Func<long, double?> RevToMono { get; set; } = _ => null;
        public List<QWrite> Writes { get; } = [];
    }

    internal sealed record Inputs(RunInfo Info, List<HistoryEvent> History, List<QueueOpRecord> Ops, List<TermRecord> Terms,
        List<FaultRecord> Faults, Dictionary<string, string> Final, List<Sample> Samples);

    public static Inputs Load(string dir, RunInfo info, List<HistoryEvent> history, List<FaultRecord> faults, Dictionary<string, string> final)
    {
        var ops = Directory.EnumerateFiles(dir, "qops-*.jsonl").SelectMany(Json.ReadLines<QueueOpRecord>).ToList();
        var terms = Directory.EnumerateFiles(dir, "terms-*.jsonl").SelectMany(Json.ReadLines<TermRecord>).ToList();
        string samplesFile = Path.Combine(dir, "samples.jsonl");
        var samples = File.Exists(samplesFile) ? Json.ReadLines<Sample>(samplesFile).ToList() : [];
        return new Inputs(info, history, ops, terms, faults, final, samples);
    }

    public static Result Analyze(Inputs input)
    {
        RunInfo info = input.Info;
        var result = new Result();
        if (info.SemCallers == 0 && info.RwCallers == 0 && info.Leaders == 0)
        {
            result.Lines.Add("queue roles: none in this run");
            return result;
        }

        // 1. Replay: live tickets per primitive, in create-revision order; every queue write judged at its revision.
        var live = new Dictionary<string, List<Ticket>>(StringComparer.Ordinal);
        var byKey = new Dictionary<string, Ticket>(StringComparer.Ordinal);
        var byToken = new Dictionary<(string, long), Ticket>();
        var maxHolding = new Dictionary<string, int>(StringComparer.Ordinal);
        var leaderChanges = new List<(long Rev, long Old, long New)>();
        var currentLeader = new Dictionary<string, long>(StringComparer.Ordinal);
        int malformed = 0;
        foreach (HistoryEvent e in input.History)
        {
            if (ParseTicket(info, e.Key) is { } parsed)
            {
                List<Ticket> list = live.TryGetValue(parsed.Prim, out var l) ? l : live[parsed.Prim] = [];
                if (e.Type == "put" && !byKey.ContainsKey(e.Key))
                {
                    var t = new Ticket { Key = e.Key, Prim = parsed.Prim, Kind = parsed.Kind, Create = e.CreateRev, Holder = e.Value, MaxCount = MaxCountOf(e.Value) ?? info.SemMax };
                    list.Add(t);
                    list.Sort((x, y) => x.Create.CompareTo(y.Create));
                    byKey[e.Key] = t;
                    byToken[(parsed.Prim, t.Create)] = t;
                }
                else if (e.Type == "delete" && byKey.Remove(e.Key, out Ticket? gone))
                {
                    gone.End = e.Rev;
                    list.Remove(gone);
                }

                if (parsed.Prim.StartsWith("sem:", StringComparison.Ordinal))
                {
                    int holding = 0;
                    for (int i = 0; i < list.Count; i++)
                    {
                        holding += i < list[i].MaxCount ? 1 : 0;
                    }

                    string name = parsed.Prim[4..];
                    maxHolding[name] = Math.Max(maxHolding.GetValueOrDefault(name), holding);
                    var steps = result.SemHolding.TryGetValue(name, out var s) ? s : result.SemHolding[name] = [];
                    if (steps.Count == 0 || steps[^1].Holding != holding)
                    {
                        steps.Add((e.Rev, holding));
                    }
                }
                else if (parsed.Prim.StartsWith("leader:", StringComparison.Ordinal))
                {
                    long now = list.Count > 0 ? list[0].Create : 0;
                    long before = currentLeader.GetValueOrDefault(parsed.Prim);
                    if (now != before)
                    {
                        leaderChanges.Add((e.Rev, before, now));
                        currentLeader[parsed.Prim] = now;
                    }
                }

                continue;
            }

            if (e.Type != "put" || WriteRole(info, e.Key) is not { } w)
            {
                continue;
            }

            string[] parts = e.Value.Split(' ');
            if (parts.Length != 3 || !long.TryParse(parts[0], CultureInfo.InvariantCulture, out long value) || !long.TryParse(parts[2], CultureInfo.InvariantCulture, out long token))
            {
                malformed++;
                continue;
            }

            string prim = (w.Role switch { "sem" => "sem:", "leader" => "leader:", _ => "rw:" }) + w.Name;
            List<Ticket> tickets = live.TryGetValue(prim, out var lt) ? lt : [];
            int rank = tickets.FindIndex(t => t.Create == token);
            string? violation;
            int older;
            if (rank < 0)
            {
                violation = byToken.ContainsKey((prim, token)) ? "its ticket was deleted" : "no ticket with that token";
                older = -1;
            }
            else
            {
                Ticket mine = tickets[rank];
                older = w.Role == "read" ? tickets.Take(rank).Count(t => t.Kind == "w") : rank;
                violation = w.Role switch
                {
                    "sem" when rank >= mine.MaxCount => $"{rank} older live tickets (MaxCount {mine.MaxCount})",
                    "read" when mine.Kind != "r" => "not a reader's ticket",
                    "read" when older > 0 => $"{older} older live writer(s)",
                    "write" when mine.Kind != "w" => "not a writer's ticket",
                    "write" when rank > 0 => $"{rank} older live reader(s)/writer(s)",
                    "leader" when rank > 0 => $"{rank} older live candidate(s)",
                    _ => null,
                };
            }

            result.Writes.Add(new QWrite(w.Role, w.Name, e.Rev, value, parts[1], token, violation, older));
        }

        // 2. Against the clients' records.
        var opsById = input.Ops.GroupBy(r => r.Op).ToDictionary(g => g.Key, g => g.Last(), StringComparer.Ordinal);
        var writtenOps = result.Writes.Select(w => w.Op).ToHashSet(StringComparer.Ordinal);
        int refusedButApplied = result.Writes.Count(w => opsById.TryGetValue(w.Op, out var r) && r.Outcome == "refused");
        int appliedButAbsent = input.Ops.Count(r => r.Outcome == "applied" && !writtenOps.Contains(r.Op));
        int viewMismatch = result.Writes.Count(w => opsById.TryGetValue(w.Op, out var r) && r.OlderAtWrite is { } seen && r.WriteRev == w.Rev && seen != w.Older && w.Older >= 0);
        var lines = result.Lines;
        lines.Add($"queue roles: {info.SemCallers} semaphore + {info.RwCallers} reader-writer callers per client process, {info.Leaders} leader candidates; " +
            $"{input.Ops.Count} operations: " + string.Join(", ", input.Ops.GroupBy(r => r.Role).OrderBy(g => g.Key).Select(g =>
                $"{g.Key} {g.Count()} (" + string.Join(" ", g.GroupBy(r => r.Outcome).OrderBy(o => o.Key).Select(o => $"{o.Key} {o.Count()}")) + ")")));
        if (refusedButApplied + appliedButAbsent + viewMismatch + malformed > 0)
        {
            lines.Add($"  INCONSISTENT: refused but applied {refusedButApplied}, recorded applied but absent from etcd {appliedButAbsent}, " +
                $"transaction's Range of the tickets differs from the replay {viewMismatch}, malformed values {malformed}");
        }

        // 3. Violations per role, the semaphores' maximum holding, lost increments, unsignalled losses.
        int Bad(string role) => result.Writes.Count(w => w.Role == role && w.Violation is not null);
        int semBad = Bad("sem"), writeBad = Bad("write"), readBad = Bad("read"), leaderBad = Bad("leader");
        int overCount = maxHolding.Values.Count(m => m > info.SemMax);
        lines.Add($"  semaphore writes by a ticket not among the {info.SemMax} oldest live: {semBad} (of {result.Writes.Count(w => w.Role == "sem")}); " +
            $"most tickets holding at once (rank < MaxCount, from the history): " +
            (maxHolding.Count == 0 ? "none" : string.Join(", ", maxHolding.OrderBy(kv => kv.Key).Select(kv => $"{kv.Key} {kv.Value}"))) + $" (bound {info.SemMax})");
        lines.Add($"  reader-writer: writer writes not by the oldest live rw key: {writeBad} (of {result.Writes.Count(w => w.Role == "write")}); " +
            $"reader writes with an older live writer: {readBad} (of {result.Writes.Count(w => w.Role == "read")})");
        lines.Add($"  leader writes by a candidate not the oldest live (stale): {leaderBad} (of {result.Writes.Count(w => w.Role == "leader")})");
        foreach (QWrite w in result.Writes.Where(w => w.Violation is not null).Take(5))
        {
            lines.Add($"    e.g. rev {w.Rev}: {w.Role} {w.Name} by {w.Op} (token {w.Token}): {w.Violation}");
        }

        int lost = 0;
        var counters = new List<string>();
        foreach (var g in result.Writes.Where(w => w.Role is "write" or "leader").GroupBy(w => (w.Role, w.Name)).OrderBy(g => g.Key))
        {
            string key = (g.Key.Role == "write" ? info.RwCountPrefix : info.LeaderCountPrefix) + g.Key.Name;
            long finalValue = input.Final.TryGetValue(key, out string? v) ? long.Parse(v.Split(' ')[0], CultureInfo.InvariantCulture) : 0;
            int increments = g.Select(w => w.Op).Distinct(StringComparer.Ordinal).Count();
            int missing = input.Ops.Count(r => r.Role == g.Key.Role && r.Key == g.Key.Name && r.Outcome == "applied" && !writtenOps.Contains(r.Op));
            lost += Math.Max(0, (int)(increments - finalValue) + missing);
            counters.Add($"{key} final {finalValue} after {increments} writes");
        }

        lines.Add($"  lost increments (writers' and leader's counters): {lost} ({string.Join("; ", counters)})");
        var taken = input.Ops.Where(r => r.Token is not null && (r.Outcome == "refused" || (r.KeyAtRelease is { } k && k != r.Token))).ToList();
        int unsignalled = taken.Count(r => !r.LostFired && r.LostAtCheck != true);
        lines.Add($"  unsignalled losses: {unsignalled} (of {taken.Count} operations whose ticket was taken before release; " +
            $"LostToken fired on {input.Ops.Count(r => r.LostFired)} of {input.Ops.Count(r => r.Token is not null)} holds)");

        // 4. Leader failover: from the old leader's loss to the next applied leader write.
        result.RevToMono = RevMap(input);
        ReportFailover(input, result, leaderChanges);
        result.Failures = semBad + writeBad + readBad + leaderBad + overCount + lost + unsignalled + refusedButApplied + appliedButAbsent + viewMismatch + malformed;
        return result;
    }

    private static void ReportFailover(Inputs input, Result result, List<(long Rev, long Old, long New)> changes)
    {
        RunInfo info = input.Info;
        var slotByToken = new Dictionary<long, int>();
        foreach (TermRecord t in input.Terms)
        {
            slotByToken[t.Token] = t.Slot;
        }

        foreach (QueueOpRecord r in input.Ops.Where(r => r.Role == "leader" && r.Token is not null))
        {
            slotByToken[r.Token!.Value] = r.Slot;
        }

        var slotByPid = input.Ops.GroupBy(r => r.Pid).ToDictionary(g => g.Key, g => g.First().Slot);
        var holderOf = input.History.Where(e => e.Type == "put" && e.Key.StartsWith(info.ElectionPrefix, StringComparison.Ordinal) && e.CreateRev == e.Rev)
            .GroupBy(e => e.CreateRev).ToDictionary(g => g.Key, g => g.First().Value);
        int SlotOf(long token)
        {
            if (slotByToken.TryGetValue(token, out int s))
            {
                return s;
            }

            if (holderOf.TryGetValue(token, out string? holder) && holder.Split(' ').FirstOrDefault(p => p.StartsWith("pid=", StringComparison.Ordinal)) is { } pid
                && int.TryParse(pid[4..], CultureInfo.InvariantCulture, out int p) && slotByPid.TryGetValue(p, out int s2))
            {
                return s2;
            }

            return -1;
        }

        var opsById = input.Ops.GroupBy(r => r.Op).ToDictionary(g => g.Key, g => g.Last(), StringComparer.Ordinal);
        var leaderWrites = result.Writes.Where(w => w.Role == "leader" && w.Violation is null).OrderBy(w => w.Rev).ToList();
        double window = 2 * info.Ttl * 1000 + 2000;
        var fromCause = new List<double>();
        var fromDelete = new List<double>();
        int attributed = 0, noLaterWrite = 0, unmapped = 0;
        var examples = new List<string>();
        var timedNext = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (rev, old, _) in changes.Where(c => c.Old != 0))
        {
            QWrite? next = leaderWrites.FirstOrDefault(w => w.Rev > rev);
            if (next is not null && !timedNext.Add(next.Op))
            {
                continue; // several candidates lost before one next write: one failover, timed from the first loss
            }

            double? deleteMono = result.RevToMono(rev);
            if (next is null)
            {
                noLaterWrite++;
                continue;
            }

            double? nextMono = opsById.TryGetValue(next.Op, out var nr) && nr.WroteMono is { } wm ? wm : result.RevToMono(next.Rev);
            if (deleteMono is null || nextMono is null)
            {
                unmapped++;
                continue;
            }

            int slot = SlotOf(old);
            FaultRecord? cause = input.Faults
                .Where(f => f.Kind != "compact" && f.StartMono <= deleteMono && deleteMono <= f.EndMono + window && (f.Slot == slot || (f.Slot < 0 && f.Member >= 0)))
                .OrderByDescending(f => f.StartMono).FirstOrDefault();
            double lossMono = cause?.StartMono ?? deleteMono.Value;
            attributed += cause is null ? 0 : 1;
            fromCause.Add(nextMono.Value - lossMono);
            fromDelete.Add(nextMono.Value - deleteMono.Value);
            if (examples.Count < 6)
            {
                examples.Add(string.Create(CultureInfo.InvariantCulture,
                    $"rev {rev}: token {old} (slot {slot}) lost{(cause is null ? "" : $" to #{cause.Seq} {cause.Kind}")} → {next.Op} wrote {nextMono.Value - lossMono:F0} ms later"));
            }
        }

        int all = changes.Count(c => c.Old != 0);
        result.Lines.Add($"  oldest live candidate lost: {all} times ({changes.Count(c => c.Old != 0 && c.New == 0)} leaving no candidate for a while), {fromCause.Count + noLaterWrite + unmapped} failovers; " +
            $"failover, loss → the next leader's first applied write (ms): {Checker.Stats(fromCause)} " +
            $"({attributed} losses attributed to a fault, timed from its start; the others from the key's delete); from the delete alone: {Checker.Stats(fromDelete)}" +
            $"{(noLaterWrite > 0 ? $"; {noLaterWrite} with no later leader write (the run's end)" : "")}{(unmapped > 0 ? $"; {unmapped} not timed" : "")}");
        foreach (string x in examples)
        {
            result.Lines.Add("    " + x);
        }
    }

    /// <summary>
    /// Revision → CLOCK_MONOTONIC ms: interpolated between revisions whose time is known (each recorded write: between
    /// its send and its answer; each sample: its wall time, moved onto the monotonic clock).
    /// </summary>
    private static Func<long, double?> RevMap(Inputs input)
    {
        var points = new List<(long Rev, double Mono)>();
        foreach (QueueOpRecord r in input.Ops.Where(r => r.WriteRev is > 0 && r.WriteMono is not null && r.WroteMono is not null))
        {
            points.Add((r.WriteRev!.Value, (r.WriteMono!.Value + r.WroteMono!.Value) / 2));
        }

        if (input.Ops.Count > 0)
        {
            var offsets = input.Ops.Select(r => r.StartWall - r.StartMono).OrderBy(x => x).ToList();
            double offset = offsets[offsets.Count / 2];
            points.AddRange(input.Samples.Select(s => (s.Rev, s.Wall - offset)));
        }

        points.Sort((a, b) => a.Rev.CompareTo(b.Rev));
        if (points.Count == 0)
        {
            return _ => null;
        }

        long[] revs = points.Select(p => p.Rev).ToArray();
        return rev =>
        {
            int i = Array.BinarySearch(revs, rev);
            if (i >= 0)
            {
                return points[i].Mono;
            }

            i = ~i;
            if (i == 0 || i == revs.Length)
            {
                return null;
            }

            (long r0, double m0) = points[i - 1];
            (long r1, double m1) = points[i];
            return m0 + (m1 - m0) * (rev - r0) / Math.Max(1, r1 - r0);
        };
    }

    private static (string Prim, string Kind)? ParseTicket(RunInfo info, string key)
    {
        (string Root, string Prim)[] roots = [(info.SemPrefix, "sem:"), (info.RwPrefix, "rw:"), (info.ElectionPrefix, "leader:")];
        foreach ((string root, string prim) in roots)
        {
            if (root.Length == 0 || !key.StartsWith(root, StringComparison.Ordinal))
            {
                continue;
            }

            string rest = key[root.Length..];
            int at = rest.IndexOf("/#", StringComparison.Ordinal);
            if (at <= 0)
            {
                return null;
            }

            string name = rest[..at];
            string marker = rest[at..];
            string? kind = marker.StartsWith("/#sem/", StringComparison.Ordinal) ? "sem"
                : marker.StartsWith("/#rw/r/", StringComparison.Ordinal) ? "r"
                : marker.StartsWith("/#rw/w/", StringComparison.Ordinal) ? "w"
                : marker.StartsWith("/#leader/", StringComparison.Ordinal) ? "cand" : null;
            return kind is null ? null : (prim + name, kind);
        }

        return null;
    }

    private static (string Role, string Name)? WriteRole(RunInfo info, string key)
    {
        (string Prefix, string Role)[] writes = [(info.SemMarkPrefix, "sem"), (info.RwMarkPrefix, "read"), (info.RwCountPrefix, "write"), (info.LeaderCountPrefix, "leader")];
        foreach ((string prefix, string role) in writes)
        {
            if (prefix.Length > 0 && key.StartsWith(prefix, StringComparison.Ordinal))
            {
                return (role, key[prefix.Length..]);
            }
        }

        return null;
    }

    private static int? MaxCountOf(string value)
    {
        int semicolon = value.IndexOf(';', StringComparison.Ordinal);
        return value.StartsWith("maxCount=", StringComparison.Ordinal) && semicolon > 9
            && int.TryParse(value.AsSpan(9, semicolon - 9), NumberStyles.None, CultureInfo.InvariantCulture, out int n) ? n : null;
    }
}
