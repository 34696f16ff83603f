using System.Diagnostics;
using AttributeLock.Engine;
using Microsoft.Extensions.Logging;

namespace AttributeLock;

/// <summary>
/// Remembers the last configuration mistake the gRPC channel met while connecting (a failed TLS handshake, a host name
/// DNS does not know), from the exceptions it logs. A request that ends with DeadlineExceeded after the client's retries
/// carries no cause of its own; the cause its attempts met is here. Only the channel's exceptions are looked at: nothing
/// is written anywhere, and entries without an exception cost one check.
/// </summary>
internal sealed class ConnectionDiagnostics : ILoggerFactory, ILogger
{
    /// <summary>A configuration mistake met within <paramref name="within"/> before now, or null.</summary>
    public Exception? RecentProblem(TimeSpan within)
    {
        var last = Volatile.Read(ref _lastBox);
        return last is not null && Stopwatch.GetElapsedTime(last.At) <= within ? last.Failure : null;
    }

    private sealed record Box(Exception Failure, long At);

    private Box? _lastBox;

    public void Forget() => Volatile.Write(ref _lastBox, null);

    public ILogger CreateLogger(string categoryName) => this;

    public void AddProvider(ILoggerProvider provider)
    {
    }

    public void Dispose()
    {
    }

    public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Debug;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        if (exception is not null && EtcdErrors.ConfigurationProblem(exception) is not null)
        {
            Volatile.Write(ref _lastBox, new Box(exception, Stopwatch.GetTimestamp()));
        }
    }
}
