using System.Collections.Concurrent;
using System.Text.RegularExpressions;
using Microsoft.Extensions.Logging;

namespace AttributeLock.Faults.Tests;

/// <summary>
/// A provider's logger that keeps the reason of every "lost lock" entry (event 3): a test prints how many holds were
/// reported lost for which reason (the key's own change, or a lease deadline), and can tell whether some were lost for
/// a reason other than their key (<see cref="NotAboutTheKey"/>).
/// </summary>
public sealed partial class LostReasonLog : ILogger<EtcdLockProvider>
{
    private readonly ConcurrentQueue<string> _reasons = new();
    private readonly ConcurrentDictionary<string, string> _examples = new();

    public IDisposable? BeginScope<TState>(TState state)
        where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Information;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        if (eventId.Id == 3 && state is IReadOnlyList<KeyValuePair<string, object?>> fields)
        {
            string reason = fields.FirstOrDefault(f => f.Key == "Reason").Value?.ToString() ?? formatter(state, exception);
            string general = Numbers().Replace(reason, "#");
            _reasons.Enqueue(general);
            _examples.TryAdd(general, reason);
        }
    }

    /// <summary>
    /// Losses logged for a reason that does not mention the key (a lease deadline passed, the lease gone): such a hold
    /// was not judged by what happened to its key. Loose on purpose: it looks for the word only.
    /// </summary>
    public int NotAboutTheKey => _reasons.Count(r => !r.Contains("key", StringComparison.OrdinalIgnoreCase));

    /// <summary>The reasons given so far, most frequent first, with their counts and the first one in full.</summary>
    public string Summary() =>
        _reasons.IsEmpty
            ? "no loss logged"
            : string.Join("; ", _reasons.GroupBy(r => r).OrderByDescending(g => g.Count()).Select(g => $"{g.Count()} × like \"{_examples[g.Key]}\""));

    [GeneratedRegex("[0-9]+")]
    private static partial Regex Numbers();
}
