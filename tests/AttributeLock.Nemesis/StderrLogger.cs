using Etcdserverpb;
using Google.Protobuf;
using Grpc.Core;

namespace AttributeLock.Nemesis;

/// <summary>The engine's warnings and errors (a loss's reason among them) into the process's log, with the wall time.</summary>
internal sealed class StderrLogger : Microsoft.Extensions.Logging.ILogger<EtcdLockProvider>
{
    public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

    public bool IsEnabled(Microsoft.Extensions.Logging.LogLevel logLevel) => logLevel >= Microsoft.Extensions.Logging.LogLevel.Warning;

    public void Log<TState>(Microsoft.Extensions.Logging.LogLevel logLevel, Microsoft.Extensions.Logging.EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        if (IsEnabled(logLevel))
        {
            Console.Error.WriteLine($"{Clock.Wall} {logLevel} {eventId.Id}: {formatter(state, exception)}");
        }
    }
}
