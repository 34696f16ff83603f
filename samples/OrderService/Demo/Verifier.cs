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

    /// <summary>Holds that ended without their write (and without a refused one): <c>worker key #token</c>.</summary>
    public IReadOnlyList<string> CutShort { get; init; } = [];

    /// <summary>Holds whose guarded write etcd refused (nothing written): what, by whom, and who held the key then.</summary>
    public IReadOnlyList<string> Refused { get; init; } = [];

    /// <summary>Descriptions of the first problems found.</summary>
    public IReadOnlyList<string> Problems { get; init; } = [];

    /// <summary><c>true</c> when nothing is wrong.</summary>
    public bool Passed => Operations > 0 && OverlappingHolds == 0 && LostUpdates == 0 && TokenRegressions == 0 && Problems.Count == 0;
}

/// <summary>
/// Checks a run from what is stored in etcd: the journal (enter and exit entries of every hold, ordered by their etcd
/// revisions) and the data keys (payments per order, accounts per customer, settlement runs).
/// </summary>
public static class Verifier
{
    /// <summary>Verifies one run.</summary>
    /// <param name="events">Every journal entry of the run, with revisions.</param>
    /// <param name="payments">The payments counter of each order, from etcd.</param>
    /// <param name="accounts">The account of each customer, from etcd.</param>
    /// <param name="settlementRuns">The settlement runs counter, from etcd.</param>
    /// <returns>The report.</returns>
    public static VerificationReport Verify(
        IReadOnlyList<JournalEvent> events,
        IReadOnlyDictionary<int, int> payments,
        IReadOnlyDictionary<string, CustomerAccount> accounts,
        int settlementRuns)
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

        foreach (JournalEvent e in events.Where(e => e.Kind == JournalEvent.Refused))
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
        foreach (IGrouping<string, Hold> key in holds.Values.GroupBy(h => h.Enter.Key))
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

        return new VerificationReport
        {
            Operations = completed.Count,
            OverlappingHolds = overlaps,
            LostUpdates = lost,
            TokenRegressions = regressions,
            Holds = holds.Count,
            Keys = holds.Values.Select(h => h.Enter.Key).Distinct().Count(),
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
