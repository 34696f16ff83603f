using System.Globalization;
using System.Net;
using System.Text;

namespace AttributeLock.Nemesis;

/// <summary>
/// One self-contained HTML file per run (inline SVG, no external assets), after Jepsen's timeline.html: a lane per key
/// and process, each hold a bar from acquire to release as recorded (the wait before it thin), faults shaded across the
/// lanes with their kind, LostToken firings and refused writes marked, and per semaphore a lane with the number of
/// tickets holding (rank &lt; MaxCount, from etcd's history). Bars per lane are capped (the file says where).
/// </summary>
internal static class Timeline
{
    private const int MaxBarsPerLane = 250;
    private const double PxPerSecond = 40;
    private const int LabelWidth = 150;
    private const int RowHeight = 6;

    private sealed record Bar(double Start, double? Acquired, double End, int Row, string Outcome, double? Lost, string Title, long? Token);

    private sealed class Lane(string name, string group, int slot)
    {
        public string Name { get; } = name;
        public string Group { get; } = group;
        public int Slot { get; } = slot;
        public List<Bar> Bars { get; } = [];
        public List<(double Mono, int Value)>? Steps { get; set; }
        public int Rows => Steps is not null ? 4 : Math.Max(1, Bars.Count == 0 ? 1 : Bars.Max(b => b.Row) + 1);
    }

    public static string Write(string dir, RunInfo info, List<OpRecord> ops, List<FaultRecord> faults, QueueChecker.Result queue)
    {
        var qops = Directory.EnumerateFiles(dir, "qops-*.jsonl").SelectMany(Json.ReadLines<QueueOpRecord>).ToList();
        var terms = Directory.EnumerateFiles(dir, "terms-*.jsonl").SelectMany(Json.ReadLines<TermRecord>).ToList();
        var lanes = new Dictionary<string, Lane>(StringComparer.Ordinal);
        Lane LaneOf(string name, string group, int slot) => lanes.TryGetValue(name, out Lane? l) ? l : lanes[name] = new Lane(name, group, slot);

        foreach (OpRecord r in ops)
        {
            LaneOf($"lock {r.Key} · {r.Client}", r.Key == info.FairKey ? "9 fair" : "1 lock " + r.Key, r.Key == info.FairKey ? -1 : r.Slot).Bars.Add(new Bar(
                r.StartMono, r.AcquiredMono, r.EndMono, r.Caller, r.Outcome, r.LostFired ? r.LostMono : null,
                $"{r.Op} token {r.Token} {r.Outcome}{(r.LostFired ? " LostToken" : "")}", r.Token));
        }

        foreach (QueueOpRecord r in qops.Where(r => r.Role != "leader"))
        {
            string prim = r.Role == "sem" ? "sem" : "rw";
            LaneOf($"{prim} {r.Key} · {r.Client}", $"{(prim == "sem" ? 2 : 3)} {prim} {r.Key}", r.Slot).Bars.Add(new Bar(
                r.StartMono, r.AcquiredMono, r.EndMono, r.Caller, r.Role == "write" && r.Outcome == "applied" ? "write" : r.Outcome, r.LostFired ? r.LostMono : null,
                $"{r.Role} {r.Op} token {r.Token} {r.Outcome}{(r.LostFired ? " LostToken" : "")}", r.Token));
        }

        foreach (TermRecord t in terms)
        {
            var mine = qops.Where(r => r.Role == "leader" && r.Token == t.Token).ToList();
            LaneOf($"leader {t.Key} · {t.Client}", "4 leader", t.Slot).Bars.Add(new Bar(
                t.StartMono, t.StartMono, t.EndMono, 0, t.End == "lost" ? "lost-term" : "applied", t.LostMono,
                $"term token {t.Token}: {t.Ops} ops ({mine.Count(r => r.Outcome == "applied")} applied, {mine.Count(r => r.Outcome == "refused")} refused), {t.End}", t.Token));
            foreach (QueueOpRecord r in mine.Where(r => r.Outcome == "refused"))
            {
                LaneOf($"leader {t.Key} · {t.Client}", "4 leader", t.Slot).Bars.Add(new Bar(r.StartMono, r.AcquiredMono, r.EndMono, 0, "refused", null, $"{r.Op} refused", r.Token));
            }
        }

        // Leader ops of terms without a record (a killed process): their span as one bar.
        var recorded = terms.Select(t => t.Token).ToHashSet();
        foreach (var g in qops.Where(r => r.Role == "leader" && r.Token is not null && !recorded.Contains(r.Token.Value)).GroupBy(r => (r.Client, r.Token)))
        {
            LaneOf($"leader {g.First().Key} · {g.Key.Client}", "4 leader", g.First().Slot).Bars.Add(new Bar(
                g.Min(r => r.StartMono), g.Min(r => r.StartMono), g.Max(r => r.EndMono), 0, "killed-term", null, $"term token {g.Key.Token}: {g.Count()} ops, no end recorded (killed)", g.Key.Token));
        }

        foreach ((string name, List<(long Rev, int Holding)> steps) in queue.SemHolding)
        {
            var mapped = steps.Select(s => (Mono: queue.RevToMono(s.Rev), s.Holding)).Where(s => s.Mono is not null).Select(s => (s.Mono!.Value, s.Holding)).ToList();
            LaneOf($"sem {name}: tickets holding", $"2 sem {name}", -1).Steps = mapped;
        }

        var all = lanes.Values.SelectMany(l => l.Bars).ToList();
        if (all.Count == 0)
        {
            return "(no operations recorded: no timeline)";
        }

        double t0 = Math.Min(all.Min(b => b.Start), faults.Count > 0 ? faults.Min(f => f.StartMono) : double.MaxValue) - 500;
        double t1 = all.Max(b => b.End) + 500;
        double X(double mono) => LabelWidth + (mono - t0) / 1000 * PxPerSecond;
        var ordered = lanes.Values.OrderBy(l => l.Group, StringComparer.Ordinal).ThenBy(l => l.Name, StringComparer.Ordinal).ToList();
        int top = 40;
        var laneY = new Dictionary<Lane, (int Y, int H)>();
        int y = top;
        foreach (Lane l in ordered)
        {
            int h = l.Rows * RowHeight + 6;
            laneY[l] = (y, h);
            y += h;
        }

        int width = (int)X(t1) + 20;
        int height = y + 20;
        var svg = new StringBuilder();
        var notes = new List<string>();
        string F(double v) => v.ToString("F1", CultureInfo.InvariantCulture);
        svg.Append(CultureInfo.InvariantCulture, $"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}' font-family='monospace' font-size='10'>");
        // Time axis.
        for (int s = 0; s <= (t1 - t0) / 1000; s++)
        {
            double x = X(t0 + s * 1000);
            svg.Append(CultureInfo.InvariantCulture, $"<line x1='{F(x)}' y1='{top - 4}' x2='{F(x)}' y2='{height - 20}' stroke='#eee'/>");
            if (s % 5 == 0)
            {
                svg.Append(CultureInfo.InvariantCulture, $"<text x='{F(x)}' y='{top - 6}' fill='#888'>{s}s</text>");
            }
        }

        // Faults, shaded across every lane; a client fault darker on its own slot's lanes.
        foreach (FaultRecord f in faults)
        {
            string color = FaultColor(f.Kind);
            double x0 = X(f.StartMono), w = Math.Max(2, X(f.EndMono) - x0);
            svg.Append(CultureInfo.InvariantCulture, $"<rect x='{F(x0)}' y='{top}' width='{F(w)}' height='{y - top}' fill='{color}' opacity='0.12'><title>#{f.Seq} {Esc(f.Kind)} slot {f.Slot} member {f.Member} {Esc(f.Detail)}</title></rect>");
            svg.Append(CultureInfo.InvariantCulture, $"<text x='{F(x0 + 1)}' y='{top - 16 - (f.Seq % 2) * 9}' fill='{color}'>{Esc(f.Kind)}</text>");
            if (f.Slot >= 0)
            {
                foreach (Lane l in ordered.Where(l => l.Slot == f.Slot))
                {
                    (int ly, int lh) = laneY[l];
                    svg.Append(CultureInfo.InvariantCulture, $"<rect x='{F(x0)}' y='{ly}' width='{F(w)}' height='{lh}' fill='{color}' opacity='0.25'/>");
                }
            }
        }

        foreach (Lane l in ordered)
        {
            (int ly, int lh) = laneY[l];
            svg.Append(CultureInfo.InvariantCulture, $"<line x1='0' y1='{ly}' x2='{width}' y2='{ly}' stroke='#ccc'/><text x='2' y='{ly + lh / 2 + 4}'>{Esc(l.Name)}</text>");
            if (l.Steps is { } steps)
            {
                int max = Math.Max(info.SemMax, steps.Count == 0 ? 0 : steps.Max(s => s.Value));
                double Y(int v) => ly + lh - 3 - (double)v / Math.Max(1, max) * (lh - 6);
                svg.Append(CultureInfo.InvariantCulture, $"<line x1='{LabelWidth}' y1='{F(Y(info.SemMax))}' x2='{width}' y2='{F(Y(info.SemMax))}' stroke='#c00' stroke-dasharray='2,3'/>");
                var path = new StringBuilder();
                for (int i = 0; i < steps.Count; i++)
                {
                    double x = X(steps[i].Mono);
                    path.Append(CultureInfo.InvariantCulture, $"{(i == 0 ? "M" : "H")}{F(x)} {(i == 0 ? "" : "V")}{F(Y(steps[i].Value))} ");
                }

                svg.Append(CultureInfo.InvariantCulture, $"<path d='{path}' fill='none' stroke='#06c'/>");
                continue;
            }

            List<Bar> bars = Cap(l.Bars, out int dropped);
            if (dropped > 0)
            {
                notes.Add($"{l.Name}: {bars.Count} of {l.Bars.Count} bars drawn (every non-applied bar and LostToken first, then applied ones evenly)");
            }

            foreach (Bar b in bars)
            {
                double by = ly + 3 + b.Row * RowHeight;
                if (b.Acquired is { } acq)
                {
                    if (acq > b.Start + 1)
                    {
                        svg.Append(CultureInfo.InvariantCulture, $"<rect x='{F(X(b.Start))}' y='{F(by + 2)}' width='{F(X(acq) - X(b.Start))}' height='1' fill='#aaa'/>");
                    }

                    svg.Append(CultureInfo.InvariantCulture, $"<rect x='{F(X(acq))}' y='{F(by)}' width='{F(Math.Max(1, X(b.End) - X(acq)))}' height='{RowHeight - 1}' fill='{OutcomeColor(b.Outcome)}'><title>{Esc(b.Title)}</title></rect>");
                }
                else
                {
                    svg.Append(CultureInfo.InvariantCulture, $"<rect x='{F(X(b.Start))}' y='{F(by + 2)}' width='{F(Math.Max(1, X(b.End) - X(b.Start)))}' height='1' fill='{OutcomeColor(b.Outcome)}'><title>{Esc(b.Title)}</title></rect>");
                }

                if (b.Outcome == "refused")
                {
                    double x = X(b.End);
                    svg.Append(CultureInfo.InvariantCulture, $"<path d='M{F(x - 3)} {F(by - 1)}L{F(x + 3)} {F(by + RowHeight)}M{F(x + 3)} {F(by - 1)}L{F(x - 3)} {F(by + RowHeight)}' stroke='#c00' stroke-width='1.5'/>");
                }

                if (b.Lost is { } lost)
                {
                    double x = X(lost);
                    svg.Append(CultureInfo.InvariantCulture, $"<path d='M{F(x)} {F(by - 2)}V{F(by + RowHeight + 1)}' stroke='#f0f' stroke-width='2'><title>LostToken</title></path>");
                }
            }
        }

        svg.Append("</svg>");
        var html = new StringBuilder();
        html.Append("<!DOCTYPE html><html><head><meta charset='utf-8'><title>nemesis timeline, seed ").Append(info.Seed).Append("</title>");
        html.Append("<style>body{font-family:sans-serif;font-size:13px;margin:8px}.k span{display:inline-block;width:12px;height:9px;margin:0 3px 0 10px}div.s{overflow-x:auto;border:1px solid #ccc}</style></head><body>");
        html.Append(CultureInfo.InvariantCulture, $"<h3>Nemesis timeline — seed {info.Seed}, {(info.Guarded ? "guarded" : "UNGUARDED control")}, TTL {info.Ttl} s</h3>");
        html.Append("<p class='k'>Bars: acquire → release as recorded (thin grey: waiting to acquire).");
        foreach (string o in new[] { "applied", "write", "refused", "lost-signalled", "timeout", "unavailable", "lost-term", "killed-term" })
        {
            html.Append(CultureInfo.InvariantCulture, $"<span style='background:{OutcomeColor(o)}'></span>{o}");
        }

        html.Append("<span style='background:#f0f'></span>LostToken fired <span style='background:none;color:#c00'>×</span>write refused. ");
        html.Append("Faults shaded across every lane (darker on the lanes of the client slot they hit), kind on top. Semaphore lanes: tickets holding (rank &lt; MaxCount) from etcd's history, dashed line = MaxCount. Hover for details. Time in seconds from the first operation.</p>");
        html.Append(CultureInfo.InvariantCulture, $"<p>At most {MaxBarsPerLane} bars per lane. ");
        html.Append(notes.Count == 0 ? "No lane was capped." : "Capped lanes: " + WebUtility.HtmlEncode(string.Join("; ", notes)) + ".");
        html.Append("</p><div class='s'>").Append(svg).Append("</div></body></html>");
        string path2 = Path.Combine(dir, "timeline.html");
        File.WriteAllText(path2, html.ToString());
        return string.Create(CultureInfo.InvariantCulture, $"{path2} ({new FileInfo(path2).Length / 1024} KiB, {lanes.Count} lanes{(notes.Count > 0 ? $", {notes.Count} capped" : "")})");
    }

    private static List<Bar> Cap(List<Bar> bars, out int dropped)
    {
        if (bars.Count <= MaxBarsPerLane)
        {
            dropped = 0;
            return bars;
        }

        var keep = bars.Where(b => b.Outcome is not ("applied" or "write") || b.Lost is not null).Take(MaxBarsPerLane).ToList();
        var applied = bars.Where(b => b.Outcome is "applied" or "write" && b.Lost is null).ToList();
        int room = MaxBarsPerLane - keep.Count;
        for (int i = 0; i < room && applied.Count > 0; i++)
        {
            keep.Add(applied[(int)((long)i * applied.Count / room)]);
        }

        dropped = bars.Count - keep.Count;
        return keep;
    }

    private static string OutcomeColor(string outcome) => outcome switch
    {
        "applied" => "#3a3",
        "write" => "#186",
        "refused" => "#e33",
        "lost-signalled" => "#f90",
        "timeout" => "#bbb",
        "unavailable" => "#a6c",
        "lost-term" => "#c93",
        "killed-term" => "#777",
        _ => "#999",
    };

    private static string FaultColor(string kind) => kind switch
    {
        "partition-client" or "blackhole-client" => "#c00",
        "slow-client" => "#d80",
        "pause-client" or "kill-client" => "#909",
        "pause-member" or "kill-member" => "#00c",
        _ => "#066",
    };

    private static string Esc(string s) => WebUtility.HtmlEncode(s);
}
