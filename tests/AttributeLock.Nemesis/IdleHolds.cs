using System.Globalization;

namespace AttributeLock.Nemesis;

/// <summary>
/// The checker's part for the idle holds (<see cref="IdleRole"/>): every hold whose key etcd's history shows ended
/// while the holder still held it — taken over by the nemesis (a marker key at the same revision says so) or deleted
/// by the end of its lease — must have been reported lost by its holder within a bound.
/// </summary>
/// <remarks>
/// <para>A hold is (key, create revision) as its holder recorded it. Its end in etcd is the first event on its key
/// after its create revision: nothing but a loss or the holder's own release changes a held key (the engine never
/// writes it again).</para>
/// <list type="bullet">
/// <item>An end at a revision carrying a nemesis marker is a takeover (delete, overwrite under a foreign lease, or
/// delete then re-create). Its time is when the nemesis's transaction was answered (or, when no answer came, the first
/// driver sample at or after that revision).</item>
/// <item>A delete without a marker is a lease's end: the holder's own release (its last read of the key, just before the
/// release, still saw the hold intact: the delete came after), or a loss (the read saw the key gone or foreign; or the
/// holder had reported the loss; or the holder's process was killed). Its time is the first sample (every 500 ms) at or
/// after its revision: never earlier than the event, so the bound is never shortened.</item>
/// <item>A loss must be signalled (<c>LostToken</c>, or <c>IsLost</c> at the release) by the event's time plus the
/// bound (the idle TTL + 6 s: a paused or cut-off holder learns when it runs or reconnects). Not judged: a holder
/// SIGKILLed before the bound ran out (it cannot report), and a hold released normally within 3 s of the event (the
/// watch event may be on its way). Anything else unsignalled, or signalled after the bound, is an unsignalled loss.</item>
/// </list>
/// </remarks>
internal static class IdleHolds
{
    private const long ReleaseGraceMs = 3000;

    internal sealed class Result
    {
        public int Unsignalled;
        public int Inconsistent;
        public string Summary = "";
        public List<string> Lines { get; } = [];
    }

    private static List<T> Read<T>(string dir, string name)
    {
        string path = Path.Combine(dir, name);
        return File.Exists(path) ? Json.ReadLines<T>(path).ToList() : [];
    }

    public static Result Analyze(string dir, RunInfo info, List<HistoryEvent> history, List<FaultRecord> faults)
    {
        var result = new Result();
        CheckHistoryComplete(history, result);
        if (string.IsNullOrEmpty(info.IdlePrefix))
        {
            result.Summary = "none in this run";
            return result;
        }

        var records = Directory.EnumerateFiles(dir, "holds-*.jsonl").SelectMany(Json.ReadLines<IdleRecord>).ToList();
        var acquired = records.Where(r => r.Kind == "acquired").GroupBy(r => (r.Key, r.Token)).ToDictionary(g => g.Key, g => g.First());
        var ended = records.Where(r => r.Kind == "ended").GroupBy(r => (r.Key, r.Token)).ToDictionary(g => g.Key, g => g.Last());
        // The LostToken callback's own line, written at once (it survives a kill that comes before the end line).
        var firedAt = records.Where(r => r.Kind == "lost" && r.LostWall is not null).GroupBy(r => (r.Key, r.Token)).ToDictionary(g => g.Key, g => g.Min(r => r.LostWall!.Value));
        var actions = Read<IdleAction>(dir, "idle-actions.jsonl").ToDictionary(a => a.Seq);
        var samples = Read<Sample>(dir, "samples.jsonl").OrderBy(s => s.Wall).ToList();
        var compactions = Read<CompactionRecord>(dir, "compactions.jsonl");
        var killedAt = Read<KillRecord>(dir, "kills.jsonl").GroupBy(k => k.Pid).ToDictionary(g => g.Key, g => g.Min(k => k.Wall));
        var faultBySeq = faults.ToDictionary(f => f.Seq);
        long bound = (long)(info.IdleSignalBoundSeconds * 1000);

        var markerAt = new Dictionary<long, int>();
        foreach (HistoryEvent e in history.Where(e => e.Type == "put" && e.Key.StartsWith(info.MarkerPrefix, StringComparison.Ordinal)))
        {
            markerAt[e.Rev] = int.Parse(e.Key[info.MarkerPrefix.Length..].Split('/')[0], CultureInfo.InvariantCulture);
        }

        var byKey = history.Where(e => e.Key.StartsWith(info.IdlePrefix, StringComparison.Ordinal))
            .GroupBy(e => e.Key).ToDictionary(g => g.Key, g => g.OrderBy(e => e.Rev).ToList(), StringComparer.Ordinal);

        // Revision → time, from the samples (revisions grow with time): the first sample at or after a revision was
        // taken after it happened; the last one before it, before.
        long? Upper(long rev) => samples.FirstOrDefault(s => s.Rev >= rev)?.Wall;
        long? Lower(long rev) => samples.LastOrDefault(s => s.Rev < rev)?.Wall;

        var causes = new SortedDictionary<string, int>(StringComparer.Ordinal);
        var verdicts = new SortedDictionary<string, int>(StringComparer.Ordinal);
        var latencies = new List<(string Kind, double Ms)>();
        var unsignalledLines = new List<string>();
        var inconsistentLines = new List<string>();
        int released = 0, lostReported = 0, stillPresent = 0;

        foreach (((string key, long token), IdleRecord a) in acquired.OrderBy(kv => kv.Value.AcquiredWall))
        {
            ended.TryGetValue((key, token), out IdleRecord? end);
            long? firedWall = firedAt.TryGetValue((key, token), out long fired) ? fired : end?.LostWall;
            if (end?.How == "lost")
            {
                lostReported++;
            }

            List<HistoryEvent> events = byKey.TryGetValue(key, out var list) ? list : [];
            if (!events.Any(e => e.Rev == token && e.Type == "put" && e.CreateRev == token && e.Lease == a.Lease))
            {
                inconsistentLines.Add($"{key} token {token}: recorded as acquired, but etcd's history has no such creation");
                continue;
            }

            HistoryEvent? first = events.FirstOrDefault(e => e.Rev > token);
            if (first is null)
            {
                stillPresent++;
                continue;
            }

            // What ended the hold in etcd, and when (an upper bound of the time).
            string cause;
            long? eventWall;
            IdleAction? action = null;
            if (markerAt.TryGetValue(first.Rev, out int seq))
            {
                action = actions.GetValueOrDefault(seq);
                cause = $"taken over ({action?.Kind ?? "?"})";
                eventWall = action is { Outcome: "applied" } ? action.EndWall : Upper(first.Rev);
            }
            else if (first.Type == "put")
            {
                cause = "overwritten, not by the nemesis";
                eventWall = Upper(first.Rev);
            }
            else
            {
                bool releasedIntact = end is { How: "released", KeyAtEnd: { } k } && k.CreateRev == token && k.ModRev == token && k.Lease == a.Lease;
                if (releasedIntact)
                {
                    if (first.Rev <= end!.KeyAtEnd!.Rev)
                    {
                        inconsistentLines.Add($"{key} token {token}: deleted at rev {first.Rev}, but read intact at rev {end.KeyAtEnd.Rev}");
                    }

                    released++;
                    continue;
                }

                eventWall = Upper(first.Rev);
                cause = firedWall is { } lw && Lower(first.Rev) is { } lo && lo >= lw
                    ? "reported lost, then its lease ended"
                    : "lease ended in etcd";
            }

            causes[cause] = causes.GetValueOrDefault(cause) + 1;
            long deadline = eventWall is { } w ? w + bound : long.MaxValue;
            long? signal = firedWall ?? (end?.LostAtCheck == true ? end.EndWall : null);
            string verdict;
            if (end is null && signal is null)
            {
                verdict = killedAt.TryGetValue(a.Pid, out long k) ? (k <= deadline ? "not judged: holder SIGKILLed" : "unsignalled (holder ran past the bound, then was killed)")
                    : "inconsistent";
                if (verdict == "inconsistent")
                {
                    inconsistentLines.Add($"{key} token {token}: no end recorded, and its process {a.Pid} was not killed");
                }
            }
            else if (signal is { } sig)
            {
                verdict = sig <= deadline ? "signalled" : "late (signalled after the bound)";
                if (action is not null && sig <= deadline)
                {
                    latencies.Add((faultBySeq.TryGetValue(action.FaultSeq, out FaultRecord? f) ? f.Kind : "?", sig - action.StartWall));
                }
            }
            else if (end!.How == "released" && end.KeyAtEnd is null && action is null)
            {
                verdict = "not judged: key unreadable at release";
            }
            else if (end.How == "released" && eventWall is { } ew && end.EndWall <= ew + ReleaseGraceMs)
            {
                verdict = "not judged: released within 3 s";
            }
            else
            {
                verdict = "unsignalled";
            }

            verdicts[verdict] = verdicts.GetValueOrDefault(verdict) + 1;
            if (verdict.StartsWith("unsignalled", StringComparison.Ordinal) || verdict.StartsWith("late", StringComparison.Ordinal))
            {
                result.Unsignalled++;
                string when = action is not null && faultBySeq.TryGetValue(action.FaultSeq, out FaultRecord? f)
                    ? $"fault #{f.Seq} {f.Kind}, {(action.StartWall - info.FaultStartWall) / 1000.0:F1} s into the fault phase"
                    : eventWall is { } t ? $"~{(t - info.FaultStartWall) / 1000.0:F1} s into the fault phase" : "time unknown";
                unsignalledLines.Add($"{key} token {token} lease {a.Lease:x}: {cause} at rev {first.Rev} ({when}); holder {a.Client}: " +
                    (end is null ? $"no end recorded{(signal is { } s ? $", LostToken fired {(s - info.FaultStartWall) / 1000.0:F1} s" : "")}" : $"{end.How} at {(end.EndWall - info.FaultStartWall) / 1000.0:F1} s, LostToken {(end.LostFired ? $"fired {(end.LostWall - info.FaultStartWall) / 1000.0:F1} s" : "never fired")}, IsLost at release {end.LostAtCheck?.ToString() ?? "-"}") +
                    $"; {verdict}");
            }
        }

        // Holds in etcd's history that no record names: the acquisition failed after its key was written (its caller saw
        // an error and the engine revoked the lease), or the process was killed before it wrote the line.
        var recordedTokens = acquired.Keys.ToHashSet();
        int unrecorded = byKey.Values.SelectMany(l => l).Count(e => e.Type == "put" && e.CreateRev == e.Rev
            && !e.Value.StartsWith(Driver.ForeignValue, StringComparison.Ordinal) && !recordedTokens.Contains((e.Key, e.Rev)));
        result.Inconsistent += inconsistentLines.Count;

        // Report.
        var phase = samples.Where(s => s.Wall >= info.FaultStartWall && s.Wall <= info.FaultEndWall).Select(s => s.Alive).OrderBy(x => x).ToList();
        string alive = phase.Count == 0 ? "no samples" : string.Create(CultureInfo.InvariantCulture,
            $"min {phase[0]}, p50 {phase[phase.Count / 2]}, max {phase[^1]} ({phase.Count(x => x >= 300) * 100.0 / phase.Count:F0} % of {phase.Count} samples >= 300)");
        var atFaults = faults.Where(f => f.IdleAlive is not null).Select(f => f.IdleAlive!.Value).ToList();
        if (atFaults.Count > 0)
        {
            alive += $"; at the compactions, takeovers and resets: min {atFaults.Min()}, max {atFaults.Max()}";
        }

        result.Lines.Add($"idle holds: {acquired.Count} ({info.IdleHolds} at a time per idle process, TTL {info.IdleTtl} s; processes {records.Select(r => r.Client).Distinct().Count()}; " +
            $"{unrecorded} more keys taken in etcd by acquisitions that never completed: an error or a kill); alive in etcd during the fault phase: {alive}");
        var applied = actions.Values.Where(x => x.Outcome == "applied").ToList();
        var resetSeqs = faults.Where(f => f.Kind == "reset-watch-streams").Select(f => f.Seq).ToHashSet();
        result.Lines.Add($"nemesis on idle holds: watch-stream resets {resets(faults)}, compactions {compactions.Count(c => c.Ok)}" +
            (compactions.Any(c => !c.Ok) ? $" ({compactions.Count(c => !c.Ok)} not done)" : "") +
            $", keys taken over {applied.Count} (" + string.Join(", ", applied.GroupBy(x => x.Kind).OrderBy(g => g.Key).Select(g => $"{g.Key} {g.Count()}")) +
            $"; {applied.Count(x => resetSeqs.Contains(x.FaultSeq))} during a reset)" +
            (actions.Count > applied.Count ? $", {actions.Count - applied.Count} not applied" : ""));
        result.Lines.Add($"idle holds ended in etcd while held: {causes.Values.Sum()} (" + string.Join(", ", causes.Select(c => $"{c.Key} {c.Value}")) + "): " +
            string.Join(", ", verdicts.Select(v => $"{v.Key} {v.Value}")) +
            $"; bound: event + {info.IdleSignalBoundSeconds.ToString(CultureInfo.InvariantCulture)} s. Released normally {released}, reported lost {lostReported}" +
            (stillPresent > 0 ? $", never ended in etcd {stillPresent}" : ""));
        result.Lines.Add($"takeover-to-signal latency (ms, action sent → LostToken): {Checker.Stats(latencies.Select(l => l.Ms).ToList())}" +
            string.Concat(latencies.GroupBy(l => l.Kind).OrderBy(g => g.Key).Select(g => $"; {g.Key} {Checker.Stats(g.Select(l => l.Ms).ToList())}")));
        foreach (string line in unsignalledLines.Take(15))
        {
            result.Lines.Add("  UNSIGNALLED " + line);
        }

        if (unsignalledLines.Count > 15)
        {
            result.Lines.Add($"  ... and {unsignalledLines.Count - 15} more");
        }

        foreach (string line in inconsistentLines.Take(10))
        {
            result.Lines.Add("  INCONSISTENT " + line);
        }

        result.Summary = $"{result.Unsignalled} of {causes.Values.Sum()} ended in etcd while held";
        return result;

        static int resets(List<FaultRecord> fs) => fs.Count(f => f.Kind == "reset-watch-streams");
    }

    /// <summary>Every revision from 2 to the last has at least one event (etcd bumps the revision only for a change).</summary>
    private static void CheckHistoryComplete(List<HistoryEvent> history, Result result)
    {
        if (history.Count == 0)
        {
            return;
        }

        var revs = history.Select(e => e.Rev).ToHashSet();
        long last = history.Max(e => e.Rev);
        long missing = 0;
        for (long r = 2; r <= last; r++)
        {
            missing += revs.Contains(r) ? 0 : 1;
        }

        if (missing > 0)
        {
            result.Inconsistent++;
            result.Lines.Add($"INCONSISTENT: etcd's history as dumped misses {missing} of the revisions 2..{last}");
        }
    }
}
