namespace AttributeLock.Nemesis;

/// <summary>
/// Proof that <see cref="QueueChecker"/> can fail: synthetic histories, one clean and one with each violation it must
/// catch (a semaphore write by a third ticket while MaxCount is 2, a reader writing behind an older writer, a writer
/// writing behind an older reader, a leader writing while an older candidate lives, a write after the ticket's delete,
/// a lost increment, three semaphore tickets holding at once). <c>AttributeLock.Nemesis selftest</c>; exits non-zero when a count is not the one expected.
/// </summary>
internal static class QueueCheckerSelfTest
{
    public static int Run(TextWriter o)
    {
        var info = new RunInfo
        {
            SemCallers = 1, RwCallers = 1, Leaders = 1, SemMax = 2, Ttl = 2,
            SemPrefix = QueueLayout.SemPrefix, SemMarkPrefix = QueueLayout.SemMarkPrefix, RwPrefix = QueueLayout.RwPrefix,
            RwCountPrefix = QueueLayout.RwCountPrefix, RwMarkPrefix = QueueLayout.RwMarkPrefix,
            ElectionPrefix = QueueLayout.ElectionPrefix, LeaderCountPrefix = QueueLayout.LeaderCountPrefix,
        };
        int failures = 0;

        // Clean: tickets 2, 3 hold s0 (MaxCount 2) and write; ticket 4 waits, writes only after 2 is deleted.
        var clean = new History();
        clean.Create(QueueLayout.SemPrefix + "s0/#sem/a", "maxCount=2;h");
        clean.Create(QueueLayout.SemPrefix + "s0/#sem/b", "maxCount=2;h");
        clean.Create(QueueLayout.SemPrefix + "s0/#sem/c", "maxCount=2;h");
        clean.Put(QueueLayout.SemMarkPrefix + "s0", "1 op1 2");
        clean.Put(QueueLayout.SemMarkPrefix + "s0", "2 op2 3");
        clean.Delete(QueueLayout.SemPrefix + "s0/#sem/a");
        clean.Put(QueueLayout.SemMarkPrefix + "s0", "3 op3 4");
        long w = clean.Create(QueueLayout.RwPrefix + "rw0/#rw/w/a", "h");
        clean.Create(QueueLayout.RwPrefix + "rw0/#rw/r/b", "h");
        clean.Put(QueueLayout.RwCountPrefix + "rw0", $"1 op4 {w}");
        clean.Delete(QueueLayout.RwPrefix + "rw0/#rw/w/a");
        clean.Put(QueueLayout.RwMarkPrefix + "rw0", $"1 op5 {w + 1}");
        long l = clean.Create(QueueLayout.ElectionPrefix + "e0/#leader/a", "h pid=1");
        clean.Put(QueueLayout.LeaderCountPrefix + "e0", $"1 op6 {l}");
        long l2 = clean.Create(QueueLayout.ElectionPrefix + "e0/#leader/b", "h pid=2");
        clean.Delete(QueueLayout.ElectionPrefix + "e0/#leader/a");
        clean.Put(QueueLayout.LeaderCountPrefix + "e0", $"2 op7 {l2}");
        failures += Expect(o, "clean history", info, clean, new Dictionary<string, string> { [QueueLayout.RwCountPrefix + "rw0"] = "1", [QueueLayout.LeaderCountPrefix + "e0"] = "2" }, 0);

        // Each violation once.
        var bad = new History();
        bad.Create(QueueLayout.SemPrefix + "s0/#sem/a", "maxCount=2;h");
        bad.Create(QueueLayout.SemPrefix + "s0/#sem/b", "maxCount=2;h");
        long third = bad.Create(QueueLayout.SemPrefix + "s0/#sem/c", "maxCount=2;h");
        bad.Put(QueueLayout.SemMarkPrefix + "s0", $"1 bad1 {third}"); // a third ticket writes (early admission)
        long writer = bad.Create(QueueLayout.RwPrefix + "rw0/#rw/w/a", "h");
        long reader = bad.Create(QueueLayout.RwPrefix + "rw0/#rw/r/b", "h");
        bad.Put(QueueLayout.RwMarkPrefix + "rw0", $"1 bad2 {reader}"); // a reader behind a live writer
        bad.Delete(QueueLayout.RwPrefix + "rw0/#rw/w/a");
        long writer2 = bad.Create(QueueLayout.RwPrefix + "rw0/#rw/w/c", "h");
        bad.Put(QueueLayout.RwCountPrefix + "rw0", $"1 bad3 {writer2}"); // a writer behind a live reader
        bad.Put(QueueLayout.RwCountPrefix + "rw0", $"1 bad4 {writer}"); // a writer whose ticket was deleted; and a lost increment
        long first = bad.Create(QueueLayout.ElectionPrefix + "e0/#leader/a", "h pid=1");
        long second = bad.Create(QueueLayout.ElectionPrefix + "e0/#leader/b", "h pid=2");
        bad.Put(QueueLayout.LeaderCountPrefix + "e0", $"1 bad5 {second}"); // a leader that is not the oldest candidate
        bad.Delete(QueueLayout.ElectionPrefix + "e0/#leader/a");
        _ = first;
        // A caller that asked for MaxCount 3: three tickets of s1 holding at once, over the bound of 2.
        bad.Create(QueueLayout.SemPrefix + "s1/#sem/a", "maxCount=2;h");
        bad.Create(QueueLayout.SemPrefix + "s1/#sem/b", "maxCount=2;h");
        bad.Create(QueueLayout.SemPrefix + "s1/#sem/c", "maxCount=3;h");
        // 5 bad writes + 1 lost increment (two writes of 1 on rw0, final 1) + 1 semaphore over its bound.
        failures += Expect(o, "history with one of each violation", info, bad, new Dictionary<string, string> { [QueueLayout.RwCountPrefix + "rw0"] = "1", [QueueLayout.LeaderCountPrefix + "e0"] = "1" }, 7);
        o.WriteLine(failures == 0 ? "selftest: PASS" : $"selftest: FAIL ({failures})");
        return failures;
    }

    private static int Expect(TextWriter o, string name, RunInfo info, History h, Dictionary<string, string> final, int expected)
    {
        QueueChecker.Result r = QueueChecker.Analyze(new QueueChecker.Inputs(info, h.Events, [], [], [], final, []));
        o.WriteLine($"selftest: {name}: {r.Failures} violation(s), expected {expected}");
        foreach (string line in r.Lines)
        {
            o.WriteLine("  " + line);
        }

        return r.Failures == expected ? 0 : 1;
    }

    private sealed class History
    {
        private readonly Dictionary<string, long> _created = new(StringComparer.Ordinal);
        private long _rev = 1;

        public List<HistoryEvent> Events { get; } = [];

        public long Create(string key, string value)
        {
            long rev = ++_rev;
            _created[key] = rev;
            Events.Add(new HistoryEvent { Rev = rev, Type = "put", Key = key, Value = value, CreateRev = rev, Lease = 1 });
            return rev;
        }

        public void Put(string key, string value)
        {
            long rev = ++_rev;
            long create = _created.TryGetValue(key, out long c) ? c : _created[key] = rev;
            Events.Add(new HistoryEvent { Rev = rev, Type = "put", Key = key, Value = value, CreateRev = create });
        }

        public void Delete(string key)
        {
            _created.Remove(key);
            Events.Add(new HistoryEvent { Rev = ++_rev, Type = "delete", Key = key });
        }
    }
}
