using OrderService.Journal;
using OrderService.Orders;

namespace OrderService.Demo;

/// <summary>What the verification found.</summary>
public sealed record VerificationReport
{
    /// <summary>Completed locked operations (exit entries: each one wrote its data).</summary>
    public int Operations { get; init; }

    /// <summary>Holds whose lock was created before an earlier holder of the same key had made its last write.</summary>
    public int OverlappingHolds { get; init; }

    /// <summary>Operations whose write is missing from the counters (or counted writes that no operation made).</summary>
    public int LostUpdates { get; init; }

    /// <summary>Holds whose fencing token was not larger than the previous holder's of the same key.</summary>
    public int TokenRegressions { get; init; }

    /// <summary>Holds checked.</summary>
    public int Holds { get; init; }

    /// <summary>Distinct lock keys held.</summary>
    public int Keys { get; init; }

    /// <summary>Payments captured (order operations).</summary>
    public int Payments { get; init; }

    /// <summary>Orders with at least one payment.</summary>
    public int Orders { get; init; }

    /// <summary>Customer credits.</summary>
    public int Credits { get; init; }

    /// <summary>Customers credited.</summary>
    public int Customers { get; init; }

    /// <summary>Settlement runs.</summary>
    public int SettlementRuns { get; init; }

    /// <summary>Settlement turns skipped because another node ran the job.</summary>
    public int SettlementSkips { get; init; }

    /// <summary>Settlement report holds (tickets of the <c>/reports/settlement</c> semaphore).</summary>
    public int ReportHolds { get; init; }

    /// <summary>The most report holds at once, by etcd revision (from each hold's enter to its exit).</summary>
    public int MaxReportsAtOnce { get; init; }

    /// <summary>Catalog reads that completed.</summary>
    public int CatalogReads { get; init; }

    /// <summary>Price updates that completed.</summary>
    public int CatalogUpdates { get; init; }

    /// <summary>Holds of a catalog key (a read or another update) that overlapped an update of it, by etcd revision.</summary>
    public int WriterOverlaps { get; init; }

    /// <summary>Price updates missing from the items' update counters (or counted updates no hold made).</summary>
    public int LostPriceUpdates { get; init; }

    /// <summary>Increments of the settlement leader's counter (settle entries, each written with its increment).</summary>
    public int SettleIncrements { get; init; }

    /// <summary>Leaders (distinct leadership fencing tokens) that settled.</summary>
    public int SettleLeaders { get; init; }

    /// <summary>Settlements written with a smaller leader fencing token than an earlier one, or out of sequence.</summary>
    public int StaleSettles { get; init; }

    /// <summary>Guarded settlements etcd refused (the writer no longer led).</summary>
    public int RefusedSettles { get; init; }

    /// <summary>The line of the back office's checks.</summary>
    public string BackOfficeLine =>
        $"reports: {ReportHolds} holds, at most {MaxReportsAtOnce} at once; catalog: {CatalogReads} reads, {CatalogUpdates} updates, " +
        $"{WriterOverlaps} writer overlaps, {LostPriceUpdates} lost updates; settlement: {SettleIncrements} increments by {SettleLeaders} leaders, {StaleSettles} stale";

    /// <summary>Holds that ended without their write (and without a refused one): <c>worker key #token</c>.</summary>
    public IReadOnlyList<string> CutShort { get; init; } = [];

    /// <summary>Holds whose guarded write etcd refused (nothing written): what, by whom, and who held the key then.</summary>
    public IReadOnlyList<string> Refused { get; init; } = [];

    /// <summary>Descriptions of the first problems found.</summary>
    public IReadOnlyList<string> Problems { get; init; } = [];

    /// <summary><c>true</c> when nothing is wrong.</summary>
    public bool Passed => Operations > 0 && OverlappingHolds == 0 && LostUpdates == 0 && TokenRegressions == 0 && Problems.Count == 0
        && MaxReportsAtOnce <= BackOffice.ReportSlots && WriterOverlaps == 0 && LostPriceUpdates == 0 && StaleSettles == 0;
}

/// <summary>
/// Checks a run from what is stored in etcd: the journal (enter and exit entries of every hold, ordered by their etcd
/// revisions) and the data keys (payments per order, accounts per customer, settlement runs, settlement reports,
/// catalog prices, the settlement leader's counter).
/// </summary>
public static class Verifier
{
    /// <summary>Verifies one run.</summary>
    /// <param name="events">Every journal entry of the run, with revisions.</param>
    /// <param name="payments">The payments counter of each order, from etcd.</param>
    /// <param name="accounts">The account of each customer, from etcd.</param>
    /// <param name="settlementRuns">The settlement runs counter, from etcd.</param>
    /// <param name="reports">The fencing tokens of the settlement reports stored in etcd.</param>
    /// <param name="prices">The price of each catalog item, from etcd.</param>
    /// <param name="settlementCounter">The settlement leader's counter (count, token of the last writer), from etcd.</param>
    /// <returns>The report.</returns>
    public static VerificationReport Verify(
        IReadOnlyList<JournalEvent> events,
        IReadOnlyDictionary<int, int> payments,
        IReadOnlyDictionary<string, CustomerAccount> accounts,
        int settlementRuns,
        IReadOnlyCollection<long> reports,
        IReadOnlyDictionary<string, CatalogPrice> prices,
        (int Count, long Token) settlementCounter)
    {
        var problems = new List<string>();
        var holds = new Dictionary<(string Key, long Token), Hold>();
        foreach (JournalEvent e in events.Where(e => e.Kind == JournalEvent.Enter))
        {
            if (!holds.TryAdd((e.Key, e.Token), new Hold(e)))
            {
                problems.Add($"two holds of {e.Key} with one fencing token {e.Token}");
            }
        }

        foreach (JournalEvent e in events.Where(e => e.Kind == JournalEvent.Exit))
        {
            if (holds.TryGetValue((e.Key, e.Token), out Hold? hold) && hold.Exit is null && hold.Enter.Worker == e.Worker)
            {
                hold.Exit = e;
            }
            else
            {
                problems.Add($"an exit of {e.Key} (fencing token {e.Token}) by {e.Worker} without its enter");
            }
        }

        foreach (JournalEvent e in events.Where(e => e.Kind == JournalEvent.Refused && !e.Key.Contains("/#leader/", StringComparison.Ordinal)))
        {
            if (!holds.TryGetValue((e.Key, e.Token), out Hold? hold) || hold.Enter.Worker != e.Worker)
            {
                problems.Add($"a refused write of {e.Key} (fencing token {e.Token}) by {e.Worker} without its enter");
            }
            else if (hold.Exit is not null)
            {
                problems.Add($"{e.Worker}'s write of {e.Key} (fencing token {e.Token}) was both applied and refused");
            }
            else if (e.CurrentToken == e.Token)
            {
                problems.Add($"{e.Worker}'s write of {e.Key} was refused although the key still had its fencing token {e.Token}");
            }
            else
            {
                hold.Refusal = e;
            }
        }

        int overlaps = 0, regressions = 0;
        // Plain locks (one key, taken by one holder at a time). The semaphore's and the reader-writer locks' tickets
        // (keys with /#…) are one key per hold: they are checked below, per primitive.
        List<Hold> plain = holds.Values.Where(h => !h.Enter.Key.Contains("/#", StringComparison.Ordinal)).ToList();
        foreach (IGrouping<string, Hold> key in plain.GroupBy(h => h.Enter.Key))
        {
            // A hold lasts from its lock's creation (the fencing token is that revision) to its last write.
            long lastEnd = 0;
            Hold? previous = null;
            foreach (Hold h in key.OrderBy(h => h.Enter.Token))
            {
                if (h.Enter.Revision <= h.Enter.Token)
                {
                    problems.Add($"{h.Enter.Worker} entered {key.Key} at revision {h.Enter.Revision}, not after its lock's creation ({h.Enter.Token})");
                }

                if (previous is not null && h.Enter.Token < lastEnd)
                {
                    overlaps++;
                    if (overlaps <= 5)
                    {
                        problems.Add($"overlap on {key.Key}: {h.Enter.Worker}'s lock (fencing token {h.Enter.Token}) was created before {previous.Enter.Worker}'s last write (revision {lastEnd})");
                    }
                }

                lastEnd = Math.Max(lastEnd, h.End);
                previous = h;
            }

            Hold? before = null;
            foreach (Hold h in key.OrderBy(h => h.Enter.Revision))
            {
                if (before is not null && h.Enter.Token <= before.Enter.Token)
                {
                    regressions++;
                    problems.Add($"fencing token of {key.Key} went from {before.Enter.Token} to {h.Enter.Token}");
                }

                before = h;
            }
        }

        List<Hold> completed = holds.Values.Where(h => h.Exit is not null).ToList();
        int lost = 0;

        // Payments: the counter of each order must equal the number of completed holds of /orders/<id>.
        var paymentOps = completed.Where(h => h.Enter.Key.StartsWith("/orders/", StringComparison.Ordinal))
            .GroupBy(h => int.Parse(h.Enter.Key["/orders/".Length..], System.Globalization.CultureInfo.InvariantCulture))
            .ToDictionary(g => g.Key, g => g.Count());
        foreach (int order in paymentOps.Keys.Union(payments.Keys))
        {
            int expected = paymentOps.GetValueOrDefault(order), actual = payments.GetValueOrDefault(order);
            if (expected != actual)
            {
                lost += Math.Abs(expected - actual);
                problems.Add($"order {order}: {expected} payments captured, the counter in etcd says {actual}");
            }
        }

        var creditOps = completed.Where(h => h.Enter.Key.StartsWith("/customers/", StringComparison.Ordinal))
            .GroupBy(h => h.Enter.Key["/customers/".Length..])
            .ToDictionary(g => g.Key, g => g.Count());
        foreach (string customer in creditOps.Keys.Union(accounts.Keys))
        {
            int expected = creditOps.GetValueOrDefault(customer), actual = accounts.GetValueOrDefault(customer)?.Credits ?? 0;
            if (expected != actual)
            {
                lost += Math.Abs(expected - actual);
                problems.Add($"customer {customer}: credited {expected} times, the account in etcd says {actual}");
            }
        }

        int settlementOps = completed.Count(h => h.Enter.Key == "/jobs/settlement");
        if (settlementOps != settlementRuns)
        {
            lost += Math.Abs(settlementOps - settlementRuns);
            problems.Add($"settlement: {settlementOps} runs, the counter in etcd says {settlementRuns}");
        }

        // Settlement reports: at most ReportSlots tickets held at any revision. A hold is known to be held from its
        // enter entry (written after the acquire) to its exit (written, guarded, in the same transaction as the report).
        List<Hold> reportHolds = holds.Values.Where(h => h.Enter.Key.StartsWith("/reports/settlement/#sem/", StringComparison.Ordinal)).ToList();
        int maxReports = 0, reportExcess = 0, atOnce = 0;
        foreach ((long _, int delta) in reportHolds.SelectMany(h => new[] { (Revision: h.Enter.Revision, Delta: 1), (Revision: h.End, Delta: -1) })
            .OrderBy(p => p.Revision).ThenByDescending(p => p.Delta))
        {
            atOnce += delta;
            if (atOnce > maxReports)
            {
                maxReports = atOnce;
            }

            if (delta > 0 && atOnce > BackOffice.ReportSlots)
            {
                reportExcess++;
            }
        }

        if (maxReports > BackOffice.ReportSlots)
        {
            problems.Add($"settlement reports: {maxReports} held at once, more than MaxCount {BackOffice.ReportSlots}");
        }

        int reportsWritten = reportHolds.Count(h => h.Exit is not null);
        if (reportsWritten != reports.Count)
        {
            lost += Math.Abs(reportsWritten - reports.Count);
            problems.Add($"settlement reports: {reportsWritten} written by their holds, etcd has {reports.Count}");
        }

        // Catalog: no hold of an item's key (read or update) beside an update of it, by revision; every update counted.
        var catalog = holds.Values.Where(h => h.Enter.Key.StartsWith("/catalog/", StringComparison.Ordinal) && h.Enter.Key.Contains("/#rw/", StringComparison.Ordinal))
            .GroupBy(h => h.Enter.Key["/catalog/".Length..h.Enter.Key.IndexOf("/#rw/", StringComparison.Ordinal)])
            .ToDictionary(g => g.Key, g => g.ToList());
        int writerOverlaps = 0, lostPrices = 0;
        foreach ((string sku, List<Hold> items) in catalog)
        {
            foreach (Hold w in items.Where(IsWriter))
            {
                foreach (Hold other in items.Where(o => o != w && o.Enter.Revision <= w.End && w.Enter.Revision <= o.End))
                {
                    // A pair of updates is found twice (from each side): count it once.
                    if (!IsWriter(other) || other.Enter.Revision > w.Enter.Revision)
                    {
                        writerOverlaps++;
                        if (writerOverlaps <= 5)
                        {
                            problems.Add($"catalog {sku}: {other.Enter.Worker}'s {(IsWriter(other) ? "update" : "read")} (revisions {other.Enter.Revision}-{other.End}) overlapped {w.Enter.Worker}'s update (revisions {w.Enter.Revision}-{w.End})");
                        }
                    }
                }
            }
        }

        foreach (string sku in catalog.Keys.Union(prices.Keys))
        {
            int expected = catalog.GetValueOrDefault(sku)?.Count(h => IsWriter(h) && h.Exit is not null) ?? 0;
            int actual = prices.GetValueOrDefault(sku)?.Updates ?? 0;
            if (expected != actual)
            {
                lostPrices += Math.Abs(expected - actual);
                problems.Add($"catalog {sku}: {expected} price updates made, the price in etcd says {actual}");
            }
        }

        // Settlement leader: each increment applied once (the n of the k-th settle entry is k, and the counter ends at
        // the number of entries), by leaders whose fencing tokens never go back.
        List<JournalEvent> settles = events.Where(e => e.Kind == JournalEvent.Settle).OrderBy(e => e.Revision).ToList();
        var terms = events.Where(e => e.Kind == JournalEvent.Lead).Select(e => (e.Worker, e.Token)).ToHashSet();
        int stale = 0;
        long highest = 0;
        for (int i = 0; i < settles.Count; i++)
        {
            JournalEvent e = settles[i];
            if (e.Token < highest)
            {
                stale++;
                problems.Add($"settlement {e.Detail} by {e.Worker} with leader fencing token {e.Token} after one with {highest}");
            }

            highest = Math.Max(highest, e.Token);
            if (e.Detail != (i + 1).ToString(System.Globalization.CultureInfo.InvariantCulture))
            {
                stale++;
                problems.Add($"settlement: the {i + 1}. increment (by {e.Worker}, fencing token {e.Token}) wrote {e.Detail}: an increment was lost or applied twice");
            }

            if (!terms.Contains((e.Worker, e.Token)))
            {
                problems.Add($"settlement {e.Detail} by {e.Worker} with fencing token {e.Token}, a term it never journalled");
            }
        }

        if (settlementCounter.Count != settles.Count || (settles.Count > 0 && settlementCounter.Token != settles[^1].Token))
        {
            lost += Math.Abs(settlementCounter.Count - settles.Count);
            problems.Add($"settlement: {settles.Count} increments journalled, the counter in etcd says {settlementCounter.Count} (fencing token {settlementCounter.Token})");
        }

        return new VerificationReport
        {
            Operations = completed.Count + settles.Count,
            OverlappingHolds = overlaps + writerOverlaps + reportExcess,
            LostUpdates = lost + lostPrices,
            TokenRegressions = regressions,
            Holds = plain.Count,
            Keys = plain.Select(h => h.Enter.Key).Distinct().Count(),
            ReportHolds = reportHolds.Count,
            MaxReportsAtOnce = maxReports,
            CatalogReads = catalog.Values.Sum(items => items.Count(h => !IsWriter(h) && h.Exit is not null)),
            CatalogUpdates = catalog.Values.Sum(items => items.Count(h => IsWriter(h) && h.Exit is not null)),
            WriterOverlaps = writerOverlaps,
            LostPriceUpdates = lostPrices,
            SettleIncrements = settles.Count,
            SettleLeaders = settles.Select(e => e.Token).Distinct().Count(),
            StaleSettles = stale,
            RefusedSettles = events.Count(e => e.Kind == JournalEvent.Refused && e.Key.Contains("/#leader/", StringComparison.Ordinal)),
            Payments = paymentOps.Values.Sum(),
            Orders = paymentOps.Count,
            Credits = creditOps.Values.Sum(),
            Customers = creditOps.Count,
            SettlementRuns = settlementOps,
            SettlementSkips = events.Count(e => e.Kind == JournalEvent.Skip),
            CutShort = holds.Values.Where(h => h.Exit is null && h.Refusal is null).OrderBy(h => h.Enter.Revision)
                .Select(h => $"{h.Enter.Worker} {h.Enter.Key} (fencing token {h.Enter.Token})").ToList(),
            Refused = holds.Values.Where(h => h.Refusal is not null).OrderBy(h => h.Refusal!.Revision)
                .Select(h => $"{h.Enter.Worker} {h.Enter.Key} {h.Refusal!.Detail} with fencing token {h.Enter.Token}; " +
                    (h.Refusal.CurrentToken == 0 ? "the lock key was gone" : $"the lock key had fencing token {h.Refusal.CurrentToken}"))
                .ToList(),
            Problems = problems.Take(10).ToList(),
        };
    }

    private static bool IsWriter(Hold h) => h.Enter.Key.Contains("/#rw/w/", StringComparison.Ordinal);

    private sealed class Hold(JournalEvent enter)
    {
        public JournalEvent Enter { get; } = enter;

        public JournalEvent? Exit { get; set; }

        /// <summary>etcd refused the hold's guarded write (it had lost its lock); nothing was written.</summary>
        public JournalEvent? Refusal { get; set; }

        /// <summary>The hold's last write: its exit (written with its data), or its enter when it never got to write.</summary>
        public long End => Exit?.Revision ?? Enter.Revision;
    }
}
