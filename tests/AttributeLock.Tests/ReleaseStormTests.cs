using Etcdserverpb;
using Grpc.Core;
using Grpc.Core.Interceptors;

namespace AttributeLock.Tests;

/// <summary>
/// Many holds released at once (a shutdown, a batch job) reach etcd a few revokes at a time, so the renewals of the
/// holds still kept go on between them; every key is still deleted and every caller still waits for its own revoke.
/// </summary>
public sealed class ReleaseStormTests : ProviderTestBase
{
    [Fact]
    public async Task Holds_released_together_are_revoked_a_few_at_a_time_and_all_their_keys_go()
    {
        var revokes = new ConcurrentRevokes();
        var provider = NewProvider(interceptors: [revokes], tune: s => s with { MaxRevokesInFlight = 4 });
        revokes.Queued = () => provider.Probe.RevokesInFlight;
        string prefix = UniqueKey("release-storm");
        int lost = 0;
        var handles = new List<EtcdLockHandle>();
        for (int i = 0; i < 300; i += 30)
        {
            handles.AddRange(await Task.WhenAll(Enumerable.Range(i, 30).Select(n => provider.AcquireAsync($"{prefix}/{n}", new EtcdLockOptions { TtlSeconds = 30 }).AsTask())));
        }

        foreach (EtcdLockHandle h in handles)
        {
            h.LostToken.Register(() => Interlocked.Increment(ref lost));
        }

        // One dispose after another without awaiting in between, as Task.WhenAll over a Select does.
        ValueTask[] releases = handles.Select(h => h.DisposeAsync()).ToArray();
        foreach (ValueTask release in releases)
        {
            await release;
        }

        Assert.Equal(0, Volatile.Read(ref lost));
        Assert.Equal(0, provider.Probe.RevokesInFlight);
        Assert.True(revokes.Max <= 4, $"at most 4 revokes may be in flight at once; {revokes.Max} were");
        Assert.True(revokes.Max >= 2, $"the revokes should overlap up to the limit; at most {revokes.Max} did");
        // Read as each revoke went out, not once after the storm: a loaded machine may pause this thread while the
        // revokes drain.
        Assert.True(revokes.MostQueued > 4, $"the storm should have queued revokes; at most {revokes.MostQueued} were in flight or waiting");
        Assert.True(revokes.Count >= 300, $"each of the 300 holds needs its revoke; {revokes.Count} were sent");
        RangeResponse left = await Client.GetRangeAsync(prefix + "/");
        Assert.Empty(left.Kvs);
    }

    /// <summary>Counts the revokes in flight at once at the gRPC layer, below the provider.</summary>
    private sealed class ConcurrentRevokes : Interceptor
    {
        private int _now;
        private int _max;
        private int _count;
        private int _mostQueued;

        /// <summary>Revokes in flight or waiting, as the provider counts them; read as each revoke goes out.</summary>
        public Func<int>? Queued { get; set; }

        public int Max => Volatile.Read(ref _max);
        public int MostQueued => Volatile.Read(ref _mostQueued);
        public int Count => Volatile.Read(ref _count);

        public override AsyncUnaryCall<TResponse> AsyncUnaryCall<TRequest, TResponse>(TRequest request, ClientInterceptorContext<TRequest, TResponse> context, AsyncUnaryCallContinuation<TRequest, TResponse> continuation)
        {
            if (request is not LeaseRevokeRequest)
            {
                return continuation(request, context);
            }

            Interlocked.Increment(ref _count);
            int now = Interlocked.Increment(ref _now);
            int max;
            while (now > (max = Volatile.Read(ref _max)) && Interlocked.CompareExchange(ref _max, now, max) != max)
            {
            }

            if (Queued is { } queued)
            {
                int q = queued();
                int most;
                while (q > (most = Volatile.Read(ref _mostQueued)) && Interlocked.CompareExchange(ref _mostQueued, q, most) != most)
                {
                }
            }

            AsyncUnaryCall<TResponse> call = continuation(request, context);
            return new AsyncUnaryCall<TResponse>(Ended(call.ResponseAsync), call.ResponseHeadersAsync, call.GetStatus, call.GetTrailers, call.Dispose);
        }

        private async Task<TResponse> Ended<TResponse>(Task<TResponse> response)
        {
            try
            {
                return await response;
            }
            finally
            {
                Interlocked.Decrement(ref _now);
            }
        }
    }
}
