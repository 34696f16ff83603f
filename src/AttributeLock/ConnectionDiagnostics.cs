using System.Diagnostics;
using AttributeLock.Engine;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace AttributeLock;

/// <summary>
/// Remembers the last configuration mistake the gRPC channel met while connecting (a failed TLS handshake, a host name
/// DNS does not know). A request that ends with DeadlineExceeded after the client's retries carries no cause of its own;
/// the cause its attempts met is here. Two sources feed it: the failures of the channel's HTTP requests
/// (<see cref="RecordingHandler"/>: a TLS handshake fails there) and the exceptions the channel's connection layer
/// logs (categories <c>Grpc.Net.Client.Balancer.*</c>: a host DNS does not know fails there, before any request).
/// Nothing is written anywhere. The channel's per-call categories get a disabled logger: while any level of them is
/// enabled, gRPC starts an <see cref="Activity"/> for every call, which makes the HTTP layer take its diagnostics
/// path and send a traceparent header (measured: 3.5 KB and a few microseconds more per lock call).
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

    public ILogger CreateLogger(string categoryName) =>
        categoryName.StartsWith("Grpc.Net.Client.Balancer", StringComparison.Ordinal) ? this : NullLogger.Instance;

    /// <summary>Wraps the channel's HTTP handler so that the failures of its requests reach <see cref="Record"/>.</summary>
    public HttpMessageHandler Observe(HttpMessageHandler inner) => new RecordingHandler(inner, this);

    /// <summary>Keeps <paramref name="failure"/> when it names a configuration mistake.</summary>
    public void Record(Exception failure)
    {
        if (EtcdErrors.ConfigurationProblem(failure) is not null)
        {
            Volatile.Write(ref _lastBox, new Box(failure, Stopwatch.GetTimestamp()));
        }
    }

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
        if (exception is not null)
        {
            Record(exception);
        }
    }

    /// <summary>
    /// Passes every request through; a request that fails is recorded on its way out. A request that succeeds costs one
    /// state machine (its result is awaited here); the gRPC channel still finds the <see cref="SocketsHttpHandler"/>
    /// inside and connects through it.
    /// </summary>
    private sealed class RecordingHandler(HttpMessageHandler inner, ConnectionDiagnostics diagnostics) : DelegatingHandler(inner)
    {
        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            try
            {
                return await base.SendAsync(request, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex)
            {
                diagnostics.Record(ex);
                throw;
            }
        }
    }
}
