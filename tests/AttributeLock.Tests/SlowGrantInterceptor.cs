using Etcdserverpb;
using Grpc.Core;
using Grpc.Core.Interceptors;

namespace AttributeLock.Tests;

/// <summary>
/// While armed, answers each lease grant only <see cref="GrantDelay"/> after etcd did, and runs <see cref="BeforeTxn"/>
/// before a transaction goes out (a test pauses etcd there): an etcd that answers slowly, then not at all.
/// </summary>
internal sealed class SlowGrantInterceptor : Interceptor
{
    public volatile bool Armed;

    public TimeSpan GrantDelay { get; init; } = TimeSpan.FromSeconds(2);

    public Action BeforeTxn { get; init; } = () => { };

    public override AsyncUnaryCall<TResponse> AsyncUnaryCall<TRequest, TResponse>(TRequest request, ClientInterceptorContext<TRequest, TResponse> context, AsyncUnaryCallContinuation<TRequest, TResponse> continuation)
    {
        if (!Armed)
        {
            return continuation(request, context);
        }

        if (request is TxnRequest)
        {
            BeforeTxn();
            return continuation(request, context);
        }

        if (request is not LeaseGrantRequest)
        {
            return continuation(request, context);
        }

        AsyncUnaryCall<TResponse> call = continuation(request, context);
        async Task<TResponse> Slow()
        {
            TResponse response = await call.ResponseAsync;
            await Task.Delay(GrantDelay);
            return response;
        }

        return new AsyncUnaryCall<TResponse>(Slow(), call.ResponseHeadersAsync, call.GetStatus, call.GetTrailers, call.Dispose);
    }
}
