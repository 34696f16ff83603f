using System.Collections.Concurrent;
using System.Diagnostics;

namespace AttributeLock.Faults.Tests;

/// <summary>
/// Every holder appends its key, fencing token and enter/exit marks (one monotonic clock: all holders run in this
/// process); <see cref="Check"/> proves no two holds of one key overlapped and tokens strictly increased.
/// </summary>
public sealed class HoldLog
{
    private readonly ConcurrentQueue<Entry> _entries = new();

    public sealed record Entry(string Key, long Token, long Enter, long Exit, bool Lost);

    public int Count => _entries.Count;

    public void Add(string key, long token, long enter, long exit, bool lost) => _entries.Enqueue(new Entry(key, token, enter, exit, lost));

    /// <summary>Runs <paramref name="body"/> under <paramref name="handle"/> and records the hold.</summary>
    public async Task RecordAsync(EtcdLockHandle handle, Func<CancellationToken, Task> body)
    {
        long enter = Stopwatch.GetTimestamp();
        try
        {
            await body(handle.LostToken);
        }
        finally
        {
            Add(handle.Key, handle.FencingToken, enter, Stopwatch.GetTimestamp(), handle.IsLost);
        }
    }

    public IReadOnlyList<string> Check()
    {
        var problems = new List<string>();
        foreach (var group in _entries.GroupBy(e => e.Key))
        {
            var byToken = group.OrderBy(e => e.Token).ToList();
            for (int i = 1; i < byToken.Count; i++)
            {
                Entry prev = byToken[i - 1], next = byToken[i];
                if (next.Token == prev.Token)
                {
                    problems.Add($"{group.Key}: two holds with token {next.Token}");
                }

                if (next.Enter < prev.Exit)
                {
                    problems.Add($"{group.Key}: hold with token {next.Token} entered {(prev.Exit - next.Enter) * 1000.0 / Stopwatch.Frequency:F1} ms before the hold with token {prev.Token} exited");
                }
            }
        }

        return problems;
    }
}
