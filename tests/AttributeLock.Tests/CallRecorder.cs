using System.Collections.Concurrent;
using Grpc.Core;
using Grpc.Core.Interceptors;

namespace AttributeLock.Tests;

/// <summary>
/// Records every unary call a provider makes while recording: the request's type, when the call went out (UTC, the
/// clock gRPC deadlines are on) and the deadline it carried. A deadline is set when the call starts, so it shows how
/// long the provider let the call wait, whatever the machine's load did to the time the call then took.
/// </summary>
internal sealed class CallRecorder : Interceptor
{
    private readonly ConcurrentQueue<Call> _calls = new();
    private volatile bool _recording;

    /// <summary>Forgets what was recorded and records from now on.</summary>
    public void Start()
    {
        _calls.Clear();
        _recording = true;
    }

    /// <summary>Stops recording.</summary>
    public void Stop() => _recording = false;

    /// <summary>The calls recorded, in the order they went out.</summary>
    public IReadOnlyList<Call> Calls => _calls.ToArray();

    /// <summary>The recorded calls of request type <typeparamref name="TRequest"/>.</summary>
    public IReadOnlyList<Call> Of<TRequest>() => _calls.Where(c => c.Request == typeof(TRequest)).ToArray();

    public override AsyncUnaryCall<TResponse> AsyncUnaryCall<TRequest, TResponse>(TRequest request, ClientInterceptorContext<TRequest, TResponse> context, AsyncUnaryCallContinuation<TRequest, TResponse> continuation)
    {
        if (_recording)
        {
            _calls.Enqueue(new Call(typeof(TRequest), DateTime.UtcNow, context.Options.Deadline));
        }

        return continuation(request, context);
    }

    /// <summary>One call: its request type, when it went out, its deadline (<c>null</c>: none).</summary>
    public sealed record Call(Type Request, DateTime SentUtc, DateTime? Deadline)
    {
        public override string ToString() =>
            $"{Request.Name} sent {SentUtc:HH:mm:ss.fff}, deadline {(Deadline is { } d ? $"{d:HH:mm:ss.fff} (+{(d - SentUtc).TotalMilliseconds:0} ms)" : "none")}";
    }
}
