using Etcdserverpb;
using Grpc.Core;
using Grpc.Core.Interceptors;

namespace AttributeLock.Tests;

/// <summary>The read half of a read-modify-write goes through the holder's provider, with its error mapping.</summary>
public sealed class GuardedReadTests : ProviderTestBase
{
    [Fact]
    public async Task GetAsync_reads_a_plain_key_through_the_provider_and_sees_other_writers()
    {
        var provider = NewProvider(o => o.KeyPrefix = "/attributelock-tests/locks");
        string data = "/attributelock-tests/data" + UniqueKey("read");
        await using EtcdLockHandle hold = await provider.AcquireAsync(UniqueKey("read-lock"));

        Assert.Null(await hold.GetAsync(data));
        await hold.PutIfHeldAsync(data, "1");
        Assert.Equal("1", await hold.GetAsync(data));
        await Client.PutAsync(data, "written elsewhere");
        Assert.Equal("written elsewhere", await hold.GetAsync(data));

        RangeResponse answer = await hold.RangeAsync(new RangeRequest { Key = Google.Protobuf.ByteString.CopyFromUtf8(data) });
        Assert.Equal("written elsewhere", answer.Kvs[0].Value.ToStringUtf8());
    }

    [Theory]
    [InlineData(StatusCode.Unavailable, true)]
    [InlineData(StatusCode.PermissionDenied, false)]
    public async Task A_failed_read_is_an_EtcdLockUnavailableException_naming_the_key(StatusCode status, bool transient)
    {
        var failer = new FailRangeInterceptor();
        var provider = NewProvider(interceptors: [failer]);
        string data = "/attributelock-tests/data" + UniqueKey("read-fails");
        await using EtcdLockHandle hold = await provider.AcquireAsync(UniqueKey("read-fails-lock"));

        failer.Status = status;
        var ex = await Assert.ThrowsAsync<EtcdLockUnavailableException>(() => hold.GetAsync(data));
        Assert.Equal(transient, ex.IsTransient);
        Assert.Contains(data, ex.Message, StringComparison.Ordinal);
        Assert.IsType<RpcException>(ex.InnerException);

        using var cancelled = new CancellationTokenSource();
        await cancelled.CancelAsync();
        failer.Status = null;
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => hold.GetAsync(data, cancelled.Token));
    }

    private sealed class FailRangeInterceptor : Interceptor
    {
        public StatusCode? Status { get; set; }

        public override AsyncUnaryCall<TResponse> AsyncUnaryCall<TRequest, TResponse>(TRequest request, ClientInterceptorContext<TRequest, TResponse> context, AsyncUnaryCallContinuation<TRequest, TResponse> continuation)
        {
            if (request is RangeRequest && Status is { } code)
            {
                var status = new Status(code, "simulated failure");
                return new AsyncUnaryCall<TResponse>(Task.FromException<TResponse>(new RpcException(status)), Task.FromResult(new Metadata()), () => status, () => new Metadata(), () => { });
            }

            return continuation(request, context);
        }
    }
}
