using System.Diagnostics;
using System.Text;
using AttributeLock.EtcdFixture;
using dotnet_etcd;
using Etcdserverpb;
using Grpc.Core;
using Grpc.Core.Interceptors;
using static AttributeLock.Tests.AdversarialProviders;

namespace AttributeLock.Tests;

/// <summary>
/// Adversarial experiments on an etcd of their own, which they stop (SIGSTOP) or restart: cancelling an acquire while
/// etcd does not answer, a lease that expires while the lock transaction is stalled, a held key deleted right after a
/// restart. Each test has its own server, so they run beside other tests.
/// </summary>
public sealed class AdversarialEtcdStallTests : ProviderTestBase
{
    private static async Task PrintWatchMetrics(EtcdServer server, string when)
    {
        if (Environment.GetEnvironmentVariable("ADV_LOG") is null)
        {
            return;
        }

        var sb = new StringBuilder(when + ":");
        foreach (var (name, filter) in new[]
        {
            ("grpc_server_started_total", "grpc_method=\"Watch\""), ("grpc_server_msg_received_total", "grpc_method=\"Watch\""),
            ("grpc_server_msg_sent_total", "grpc_method=\"Watch\""), ("grpc_server_started_total", "grpc_method=\"LeaseKeepAlive\""),
            ("etcd_debugging_mvcc_watcher_total", ""), ("etcd_debugging_mvcc_slow_watcher_total", ""), ("etcd_debugging_mvcc_watch_stream_total", ""),
        })
        {
            sb.Append($" {name}{{{filter}}}={await EtcdServer.ReadMetricAsync(server.Endpoint, name, filter)}");
        }

        Console.WriteLine(sb);
    }

    private sealed class WatchSpy : Interceptor
    {
        public override AsyncDuplexStreamingCall<TRequest, TResponse> AsyncDuplexStreamingCall<TRequest, TResponse>(ClientInterceptorContext<TRequest, TResponse> context, AsyncDuplexStreamingCallContinuation<TRequest, TResponse> continuation)
        {
            var call = continuation(context);
            if (typeof(TResponse) != typeof(WatchResponse))
            {
                return call;
            }

            return new AsyncDuplexStreamingCall<TRequest, TResponse>(new SpyWriter<TRequest>(call.RequestStream), new SpyReader<TResponse>(call.ResponseStream), call.ResponseHeadersAsync, call.GetStatus, call.GetTrailers, call.Dispose);
        }

        private sealed class SpyWriter<T>(IClientStreamWriter<T> inner) : IClientStreamWriter<T>
        {
            public WriteOptions? WriteOptions { get => inner.WriteOptions; set => inner.WriteOptions = value; }

            public Task WriteAsync(T message)
            {
                Console.WriteLine($"watch >> {message}");
                return inner.WriteAsync(message);
            }

            public Task WriteAsync(T message, CancellationToken cancellationToken)
            {
                Console.WriteLine($"watch >> {message}");
                return inner.WriteAsync(message, cancellationToken);
            }

            public Task CompleteAsync() => inner.CompleteAsync();
        }

        private sealed class SpyReader<T>(IAsyncStreamReader<T> inner) : IAsyncStreamReader<T>
        {
            public T Current => inner.Current;

            public async Task<bool> MoveNext(CancellationToken cancellationToken)
            {
                bool more = await inner.MoveNext(cancellationToken);
                Console.WriteLine(more ? $"watch << {inner.Current}" : "watch << (end)");
                return more;
            }
        }
    }

    // ------------------------------------------------------------------------------------------------------------
    // Cancellation while etcd does not answer (paused): the grant step and the transaction step.
    // ------------------------------------------------------------------------------------------------------------

    /// <summary>Runs <paramref name="onRequest"/> synchronously before a unary call of the given request type goes out.</summary>
    private sealed class BeforeCallInterceptor<TReq>(Action<TReq> onRequest) : Interceptor
    {
        public override AsyncUnaryCall<TResponse> AsyncUnaryCall<TRequest, TResponse>(TRequest request, ClientInterceptorContext<TRequest, TResponse> context, AsyncUnaryCallContinuation<TRequest, TResponse> continuation)
        {
            if (request is TReq r)
            {
                onRequest(r);
            }

            return continuation(request, context);
        }
    }

    [Theory]
    [InlineData("grant")]
    [InlineData("txn")]
    public async Task Adversarial_cancelling_an_acquire_while_etcd_is_stalled_ends_promptly_and_leaves_no_lease(string step)
    {
        // The scenario needs etcd to be stopped when the request goes out: EtcdServer.Pause returns only once every
        // thread of etcd is stopped (a SIGSTOP takes effect asynchronously in a multi-threaded process). The caller
        // cancels 300 ms after the pause, not 300 ms after it called: under load the acquire may take longer than that
        // to reach the request, and the run would then test nothing.
        await using var server = await EtcdServer.StartAsync();
        int armed = 0, pauses = 0;
        long pausedAt = 0;
        using var cts = new CancellationTokenSource();
        void PauseOnce()
        {
            if (Interlocked.Exchange(ref armed, 0) == 1)
            {
                server.Pause();
                Interlocked.Increment(ref pauses);
                Volatile.Write(ref pausedAt, Stopwatch.GetTimestamp());
                cts.CancelAfter(300);
            }
        }

        var pauser = step == "grant"
            ? (Interceptor)new BeforeCallInterceptor<LeaseGrantRequest>(_ => PauseOnce())
            : new BeforeCallInterceptor<TxnRequest>(_ => PauseOnce());
        // A request timeout far beyond the cancellation: an RPC that ignored the caller's token would end only at this
        // deadline, one that honours it ends moments after the cancel, however loaded the machine.
        TimeSpan requestTimeout = TimeSpan.FromSeconds(15);
        await using var provider = PrivateProvider(server, requestTimeout, pauser);
        using var client = new EtcdClient(server.Endpoint);
        await (await provider.AcquireAsync("/warm-up")).DisposeAsync(); // the connection is up

        Volatile.Write(ref armed, 1);
        Exception? ex = await Record.ExceptionAsync(async () => await provider.AcquireAsync("/stalled", new EtcdLockOptions { TtlSeconds = 60 }, cts.Token));
        long elapsed = pauses == 0 ? -1 : (long)Stopwatch.GetElapsedTime(Volatile.Read(ref pausedAt)).TotalMilliseconds;
        server.Resume();
        await Task.Delay(2000);
        // The provider's spares (granted ahead for its next acquire, one per TTL) are not the cancelled acquire's.
        var leases = (await client.LeaseLeasesAsync(new LeaseLeasesRequest())).Leases.Select(l => l.ID).Except(provider.Probe.SpareLeaseIds).ToList();
        var keys = await client.GetAsync("/stalled");
        Console.WriteLine($"{step}: {ex?.GetType().Name} {elapsed} ms after the pause; leases left {leases.Count}; key left {keys.Kvs.Count}; pauses {pauses}");
        Assert.True(pauses == 1, $"{step}: the request never went out ({ex?.GetType().Name}): the scenario did not happen");
        Assert.IsAssignableFrom<OperationCanceledException>(ex);
        Assert.True(keys.Kvs.Count == 0, $"{step}: the key was left behind");
        Assert.True(leases.Count == 0, $"{step}: a 60 s lease was left in etcd after the cancelled acquire (ids {string.Join(",", leases)})");
        Assert.True(elapsed < requestTimeout.TotalMilliseconds / 3, $"{step}: the caller cancelled 300 ms after etcd stalled but got OperationCanceledException only {elapsed} ms after the stall (the RPC ignores the caller's token and runs to its {requestTimeout.TotalSeconds} s deadline)");
    }

    // ------------------------------------------------------------------------------------------------------------
    // A lease that expires while the lock transaction is stalled.
    // ------------------------------------------------------------------------------------------------------------

    [Fact]
    public async Task Adversarial_a_lease_that_expires_while_the_transaction_is_stalled_never_becomes_a_hold()
    {
        await using var server = await EtcdServer.StartAsync();
        int armed = 0;
        var pauser = new BeforeCallInterceptor<TxnRequest>(request =>
        {
            if (Interlocked.Exchange(ref armed, 0) == 1)
            {
                server.Pause();
                _ = Task.Delay(4500).ContinueWith(_ => server.Resume(), TaskScheduler.Default);
            }
        });
        // The request timeout is well above the 4.5 s pause: the stalled transaction is answered, not timed out.
        await using var provider = PrivateProvider(server, TimeSpan.FromSeconds(15), pauser);
        using var client = new EtcdClient(server.Endpoint);
        await (await provider.AcquireAsync("/warm-up")).DisposeAsync();
        Volatile.Write(ref armed, 1);
        var sw = Stopwatch.StartNew();
        EtcdLockHandle handle = await provider.AcquireAsync("/expired-in-txn", new EtcdLockOptions { TtlSeconds = 3, WaitTimeout = TimeSpan.FromSeconds(30) });
        Console.WriteLine($"acquired lease {handle.LeaseId} token {handle.FencingToken} lost={handle.IsLost} after {sw.ElapsedMilliseconds} ms");
        Assert.True(sw.Elapsed > TimeSpan.FromSeconds(3), "the transaction was not stalled past the lease's TTL: the scenario did not happen");
        await Task.Delay(1500);
        Console.WriteLine($"after 1.5 s: lost={handle.IsLost}: {handle.Hold.LostReason}");
        var kv = (await client.GetAsync("/expired-in-txn")).Kvs.SingleOrDefault();
        long ttl = (await client.LeaseTimeToLiveAsync(new LeaseTimeToLiveRequest { ID = handle.LeaseId })).TTL;
        Assert.False(handle.IsLost);
        Assert.NotNull(kv);
        Assert.Equal(handle.LeaseId, kv!.Lease);
        Assert.Equal(handle.FencingToken, kv.CreateRevision);
        Assert.True(ttl >= 0, "the lease must exist (TTL -1: gone)"); // etcd truncates: under a second left reads 0
        await handle.DisposeAsync();
        // Nothing left but the provider's spares (granted ahead for its next acquire; a refill may still be answering).
        await Eventually(
            async () => (await client.LeaseLeasesAsync(new LeaseLeasesRequest())).Leases.Select(l => l.ID).Except(provider.Probe.SpareLeaseIds).Any() is false,
            TimeSpan.FromSeconds(5),
            "no lease left but the provider's spares");
        await provider.DisposeAsync();
        Assert.Empty((await client.LeaseLeasesAsync(new LeaseLeasesRequest())).Leases);
    }

    // ------------------------------------------------------------------------------------------------------------
    // Key watch across an etcd restart: a deletion right after the restart.
    // ------------------------------------------------------------------------------------------------------------

    [Fact]
    public async Task Adversarial_a_key_deleted_right_after_an_etcd_restart_is_a_lost_hold()
    {
        var missed = new List<string>();
        for (int attempt = 1; attempt <= 3; attempt++)
        {
            await using var server = await EtcdServer.StartAsync();
            await using var provider = Environment.GetEnvironmentVariable("ADV_LOG") is null ? PrivateProvider(server) : PrivateProvider(server, new WatchSpy());
            using var client = new EtcdClient(server.Endpoint);
            // TTL 10: the key is watched from the first renewal (3.3 s), and the lease outlives the restart by far. The
            // renewals go on, so the hold can only be lost through its key (see the reason checked below).
            EtcdLockHandle handle = await provider.AcquireAsync("/restart-delete", new EtcdLockOptions { TtlSeconds = 10 });
            await Eventually(() => Task.FromResult(provider.Probe.WatchedKeyCount == 1), TimeSpan.FromSeconds(15), "the key watched (first renewal at TTL/3)");
            await Task.Delay(300);

            await server.RestartAsync(); // the key watch stream breaks and is re-opened by the provider
            await client.DeleteAsync(handle.Key); // behind the holder's back; its lease stays alive and renewed
            await Task.Delay(Timeout.Infinite, handle.LostToken).WaitAsync(TimeSpan.FromSeconds(10)).ContinueWith(_ => { });
            await PrintWatchMetrics(server, $"attempt {attempt} after restart");
            long leaseTtl = (await client.LeaseTimeToLiveAsync(new LeaseTimeToLiveRequest { ID = handle.LeaseId })).TTL;
            Console.WriteLine($"attempt {attempt}: lost={handle.IsLost} ({handle.Hold.LostReason}); lease TTL left {leaseTtl}");
            if (!handle.IsLost)
            {
                missed.Add($"attempt {attempt}: key deleted, lease alive (TTL left {leaseTtl} s), LostToken silent for 10 s");
            }
            else if (handle.Hold.LostReason?.Contains("deleted", StringComparison.Ordinal) is not true)
            {
                missed.Add($"attempt {attempt}: lost, but not for the deletion of its key: {handle.Hold.LostReason}");
            }

            await handle.DisposeAsync();
        }

        Assert.True(missed.Count == 0, "after an etcd restart the re-opened key watch never delivered the deletion of a held key (its create request never reached etcd, and nothing re-reads the key): " + string.Join("; ", missed));
    }
}
