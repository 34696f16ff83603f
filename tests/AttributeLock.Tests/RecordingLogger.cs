using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace AttributeLock.Tests;

/// <summary>Keeps every entry a provider logs: level, event id, message and whether it carried an exception.</summary>
internal sealed class RecordingLogger : ILogger
{
    public ConcurrentQueue<(LogLevel Level, int EventId, string Message, bool HasException)> Entries { get; } = new();

    public IEnumerable<(LogLevel Level, int EventId, string Message, bool HasException)> AtLeast(LogLevel level) =>
        Entries.Where(e => e.Level >= level);

    public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => true;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        string message = formatter(state, exception);
        Entries.Enqueue((logLevel, eventId.Id, message, exception is not null));
        if (logLevel >= LogLevel.Warning)
        {
            Console.WriteLine($"{logLevel} [{eventId.Id}]{(exception is null ? "" : " (with exception)")}: {message}");
        }
    }
}
