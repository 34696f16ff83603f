using System.Diagnostics;
using AttributeLock.EtcdFixture;
using dotnet_etcd;
using Etcdserverpb;
using Google.Protobuf;

namespace AttributeLock.Tests;

/// <summary>Writes a provider's log to the console (the test's output), with the milliseconds since it was made.</summary>
internal sealed class ConsoleLog(Microsoft.Extensions.Logging.LogLevel minimum = Microsoft.Extensions.Logging.LogLevel.Trace) : Microsoft.Extensions.Logging.ILogger
{
    private readonly Stopwatch _sw = Stopwatch.StartNew();

    public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

    public bool IsEnabled(Microsoft.Extensions.Logging.LogLevel logLevel) => logLevel >= minimum;

    public void Log<TState>(Microsoft.Extensions.Logging.LogLevel logLevel, Microsoft.Extensions.Logging.EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        if (IsEnabled(logLevel))
        {
            Console.WriteLine($"[{_sw.ElapsedMilliseconds,6} ms] {logLevel}: {formatter(state, exception)}");
        }
    }
}
