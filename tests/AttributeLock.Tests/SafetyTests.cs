using System.Collections.Concurrent;
using System.Diagnostics;
using System.Runtime.CompilerServices;
using dotnet_etcd;
using Etcdserverpb;
using Google.Protobuf;
using Grpc.Core;
using Grpc.Core.Interceptors;
using Microsoft.Extensions.Logging;

namespace AttributeLock.Tests;

/// <summary>
/// Regression tests of the safety issue: each failed on 8eaaa2a. One holder at a time, and a holder who may have
/// lost the key is told, whatever the calling code does.
/// </summary>
public sealed class SafetyTests : ProviderTestBase
{
    private static Task<T> Elsewhere<T>(Func<Task<T>> f)
    {
        using (ExecutionContext.SuppressFlow())
        {
            return Task.Run(f);
        }
    }

    [Fact]
    public async Task Release_from_another_flow_ends_the_hold_for_the_acquiring_flow_too()
    {
        var provider = NewProvider();
        var other = NewProvider();
        string key = UniqueKey("dispose-elsewhere");
        EtcdLockHandle handle = await provider.AcquireAsync(key, new EtcdLockOptions { TtlSeconds = 5 });
        await Elsewhere(async () => { await handle.DisposeAsync(); return 0; });
        await using EtcdLockHandle theirs = await other.AcquireAsync(key, new EtcdLockOptions { WaitTimeout = TimeSpan.FromSeconds(10) });

        // The acquiring flow must not get a "nested" handle under a hold that another process now has.
        Assert.Null(await provider.TryAcquireAsync(key));
        Assert.Null(EtcdLockContext.Current);
        Assert.True(theirs.FencingToken > handle.FencingToken);
    }

    [Fact]
    public async Task A_throwing_or_blocking_LostToken_callback_runs_off_the_lease_machinery_and_other_holds_stay_renewed()
    {
        var provider = NewProvider();
        string lostKey = UniqueKey("callback-lost");
        string healthyKey = UniqueKey("callback-healthy");
        EtcdLockHandle lost = await provider.AcquireAsync(lostKey, new EtcdLockOptions { TtlSeconds = 2 });
        await using EtcdLockHandle healthy = await provider.AcquireAsync(healthyKey, new EtcdLockOptions { TtlSeconds = 4 });
        var blockedOn = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        lost.LostToken.Register(() =>
        {
            blockedOn.TrySetResult(Environment.CurrentManagedThreadId);
            Thread.Sleep(TimeSpan.FromSeconds(8)); // a user callback that blocks for two TTLs of the other hold
        });
        lost.LostToken.Register(() => throw new InvalidOperationException("a user callback that throws"));

        await Client.LeaseRevokeAsync(new LeaseRevokeRequest { ID = lost.LeaseId });
        await blockedOn.Task.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.True(lost.IsLost);

        // While that callback blocks for 8 s, the TTL-4 hold next to it must keep being renewed.
        await Task.Delay(TimeSpan.FromSeconds(8.5));
        Assert.False(healthy.IsLost, "a blocked user callback delayed another hold's renewals");
        Assert.True(await LeaseTtlAsync(healthy.LeaseId) >= 0); // -1: gone (0: under a second left)
        Assert.NotNull(await GetKeyAsync(healthy.Key));
        await lost.DisposeAsync();
    }

    [Fact]
    public async Task A_stalled_renewal_of_one_lease_does_not_delay_another_leases_renewal()
    {
        var stall = new StallKeepAliveInterceptor();
        var provider = NewProvider(interceptors: [stall]);
        var other = NewProvider();
        EtcdLockHandle stalled = await provider.AcquireAsync(UniqueKey("stalled"), new EtcdLockOptions { TtlSeconds = 9 });
        stall.StalledLeaseId = stalled.LeaseId;
        string key = UniqueKey("beside-stalled");
        await using EtcdLockHandle healthy = await provider.AcquireAsync(key, new EtcdLockOptions { TtlSeconds = 2 });

        // Another provider tries for 6 s (three TTLs): the TTL-2 hold must stay renewed and exclusive.
        EtcdLockHandle? theirs = await other.TryAcquireAsync(key, new EtcdLockOptions { WaitTimeout = TimeSpan.FromSeconds(6) });
        Assert.True(theirs is null, "another provider acquired a key whose holder still believed it held it");
        Assert.False(healthy.IsLost, healthy.Hold.LostReason);
        Assert.True(stall.Stalls > 0, "the stalled lease's renewal was never attempted");
        await stalled.DisposeAsync();
    }

    [Fact]
    public async Task A_lease_lost_for_want_of_answers_says_how_many_renewals_were_sent_and_answered()
    {
        // Stalled from the start: set after the acquire, the first renewal (due TTL/3 after the grant) could get
        // through in a cold process whose first acquire took that long. No spares: this lease is the only one.
        var stall = new StallKeepAliveInterceptor { StallAll = true };
        var provider = NewProvider(o => o.SpareLeases = false, interceptors: [stall]);
        EtcdLockHandle handle = await provider.AcquireAsync(UniqueKey("unanswered"), new EtcdLockOptions { TtlSeconds = 2 });

        await Task.Delay(Timeout.Infinite, handle.LostToken).WaitAsync(TimeSpan.FromSeconds(10)).ContinueWith(_ => { });
        Assert.True(handle.IsLost, "a TTL-2 hold none of whose renewals was answered was not declared lost within 10 s");
        string reason = handle.Hold.LostReason ?? "";
        Console.WriteLine(reason);
        // Renewals go out every TTL/3 (at most two in flight); none is answered. A keep-alive stream that answers
        // nothing for 250 ms is failed and its renewals sent again, so some may have failed. Under load the schedule
        // may run late (then fewer were sent, maybe none, and the report adds the "ran late" hint): the figures must be
        // there either way. The whole report is the failure message.
        Assert.True(
            System.Text.RegularExpressions.Regex.IsMatch(reason, @"TTL of 2 s \(granted \d+ ms ago; renewals: \d+ sent, 0 answered, \d+ failed, (none sent|the last sent \d+ ms ago), slowest answer 0 ms; renewal timer up to \d+ ms late(; this process ran its renewals late[^)]*)?\)$"),
            reason);
        await handle.DisposeAsync();
    }

    [Fact]
    public async Task Disposing_the_provider_tells_open_holds_and_frees_their_keys()
    {
        var provider = new EtcdLockProvider(new EtcdLockProviderOptions { Endpoints = { Endpoints }, KeyPrefix = "/attributelock-tests" });
        var other = NewProvider();
        string key = UniqueKey("provider-disposed");
        EtcdLockHandle handle = await provider.AcquireAsync(key, new EtcdLockOptions { TtlSeconds = 30 });
        var signalled = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        handle.LostToken.Register(() => signalled.TrySetResult());

        await provider.DisposeAsync();
        await signalled.Task.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.True(handle.IsLost);

        // Revoked on dispose: another process need not wait for the 30 s TTL.
        var sw = Stopwatch.StartNew();
        await using EtcdLockHandle theirs = await other.AcquireAsync(key, new EtcdLockOptions { WaitTimeout = TimeSpan.FromSeconds(20) });
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(20));
        await handle.DisposeAsync(); // after dispose: does not throw, does not touch the new holder
        Assert.NotNull(await GetKeyAsync(theirs.Key));
        await Assert.ThrowsAsync<ObjectDisposedException>(async () => await provider.AcquireAsync(key));
    }

    [Theory]
    [InlineData("delete")]
    [InlineData("overwrite")]
    public async Task A_key_deleted_or_overwritten_behind_the_holders_back_fires_LostToken(string how)
    {
        var provider = NewProvider();
        string key = UniqueKey("behind-back-" + how);
        await using EtcdLockHandle handle = await provider.AcquireAsync(key, new EtcdLockOptions { TtlSeconds = 3 });
        var sw = Stopwatch.StartNew();
        if (how == "delete")
        {
            await Client.DeleteAsync(handle.Key);
        }
        else
        {
            await Client.PutAsync(new PutRequest { Key = ByteString.CopyFromUtf8(handle.Key), Value = ByteString.CopyFromUtf8("someone else") });
        }

        // Detection: at the latest TTL/3 after the acquire (the key watch starts with the first renewal).
        await Task.Delay(Timeout.Infinite, handle.LostToken).WaitAsync(TimeSpan.FromSeconds(10)).ContinueWith(_ => { });
        Assert.True(handle.IsLost, $"the key was {how}d behind the holder's back and LostToken never fired");
        Assert.True(handle.LostToken.IsCancellationRequested);
        Console.WriteLine($"{how}: LostToken after {sw.ElapsedMilliseconds} ms");
    }

    [Fact]
    public async Task An_abandoned_handle_stops_being_renewed_and_frees_the_key_and_the_local_queue()
    {
        var provider = NewProvider();
        string key = UniqueKey("abandoned");
        long leaseId = await AcquireAndDropAsync(provider, key);

        EtcdLockHandle? next = null;
        var sw = Stopwatch.StartNew();
        while (next is null && sw.Elapsed < TimeSpan.FromSeconds(20))
        {
            GC.Collect();
            GC.WaitForPendingFinalizers();
            next = await provider.TryAcquireAsync(key, new EtcdLockOptions { WaitTimeout = TimeSpan.FromMilliseconds(500) });
        }

        Assert.NotNull(next);
        Assert.NotEqual(leaseId, next!.LeaseId);
        Assert.True(await LeaseTtlAsync(leaseId) <= 0, "the abandoned hold's lease is still alive");
        await next.DisposeAsync();
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static async Task<long> AcquireAndDropAsync(EtcdLockProvider provider, string key)
    {
        EtcdLockHandle dropped = await provider.AcquireAsync(key, new EtcdLockOptions { TtlSeconds = 30 });
        return dropped.LeaseId;
    }

    [Fact]
    public async Task Waits_longer_than_a_timer_can_hold_count_as_unlimited_and_leak_nothing()
    {
        var provider = NewProvider();
        foreach (TimeSpan wait in new[] { TimeSpan.FromDays(60), TimeSpan.MaxValue })
        {
            string key = UniqueKey("long-wait");
            await using (EtcdLockHandle h = await provider.AcquireAsync(key, new EtcdLockOptions { WaitTimeout = wait }))
            {
                Assert.False(h.IsLost);
            }

            await using EtcdLockHandle? again = await provider.TryAcquireAsync(key, new EtcdLockOptions { WaitTimeout = wait });
            Assert.NotNull(again);
        }
    }

    [Fact]
    public async Task A_caller_cancelled_while_its_transaction_is_in_flight_gets_OperationCanceled_and_leaves_nothing()
    {
        var delay = new DelayInterceptor { TxnDelay = TimeSpan.FromMilliseconds(400) };
        var provider = NewProvider(interceptors: [delay]);
        string key = UniqueKey("cancel-in-flight");
        using var cts = new CancellationTokenSource(TimeSpan.FromMilliseconds(150));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => await provider.AcquireAsync(key, cancellationToken: cts.Token));
        Assert.Equal(0, provider.Probe.KeptLeaseCountExcludingSpares);
        await Eventually(async () => await GetKeyAsync("/attributelock-tests" + key) is null, TimeSpan.FromSeconds(10), "the key taken by the cancelled transaction deleted");

        // And the key is free for this provider at once (no gate left behind).
        await using EtcdLockHandle? h = await provider.TryAcquireAsync(key);
        Assert.NotNull(h);
    }

    [Fact]
    public async Task Random_delays_at_every_rpc_and_random_timeouts_never_leak_a_grpc_exception_nor_a_lease()
    {
        var random = new Random(4242);
        var delay = new DelayInterceptor { Random = new Random(7), MaxRandomDelay = TimeSpan.FromMilliseconds(40) };
        var provider = NewProvider(interceptors: [delay]);
        var holder = NewProvider();
        string key = UniqueKey("random-timeouts");
        var kinds = new ConcurrentDictionary<string, int>();
        for (int round = 0; round < 6; round++)
        {
            // Half of the rounds the key is held elsewhere, so waits go through the watch.
            EtcdLockHandle? held = round % 2 == 0 ? await holder.AcquireAsync(key) : null;
            int[][] plans = Enumerable.Range(0, 6).Select(_ => Enumerable.Range(0, 8).SelectMany(_ => new[] { random.Next(0, 120), random.Next(0, 150) }).ToArray()).ToArray();
            var tasks = plans.Select(plan => Elsewhere(async () =>
            {
                // Each caller makes several attempts in turn, so that many of them reach the watch.
                for (int i = 0; i < plan.Length; i += 2)
                {
                    using var cts = new CancellationTokenSource(TimeSpan.FromMilliseconds(plan[i + 1]));
                    try
                    {
                        await using EtcdLockHandle? h = await provider.TryAcquireAsync(key, new EtcdLockOptions { WaitTimeout = TimeSpan.FromMilliseconds(plan[i]) }, cts.Token);
                        kinds.AddOrUpdate(h is null ? "busy" : "acquired", 1, (_, n) => n + 1);
                    }
                    catch (Exception ex) when (ex is EtcdLockTimeoutException or OperationCanceledException or EtcdLockUnavailableException)
                    {
                        kinds.AddOrUpdate(ex.GetType().Name, 1, (_, n) => n + 1);
                    }
                }

                return 0;
            })).ToArray();
            await Task.WhenAll(tasks); // any other exception type (RpcException above all) fails the test here
            if (held is not null)
            {
                await held.DisposeAsync();
            }
        }

        Console.WriteLine(string.Join(", ", kinds.Select(k => $"{k.Key}={k.Value}")));
        // The revokes of cancelled attempts run behind the callers' backs (a lease is retired before its revoke goes
        // out): wait until they are done, then nothing may be left but the spare.
        await Eventually(() => Task.FromResult(provider.Probe.InFlightCount == 0 && provider.Probe.KeptLeaseCountExcludingSpares == 0), TimeSpan.FromSeconds(10), "every lease of the provider revoked (its spare aside)");
        Assert.Null(await GetKeyAsync("/attributelock-tests" + key));
    }

    [Fact]
    public async Task Only_the_next_queued_caller_holds_a_lease_while_it_waits()
    {
        var provider = NewProvider();
        string key = UniqueKey("queue-leases");
        EtcdLockHandle held = await provider.AcquireAsync(key);
        var waiters = Enumerable.Range(0, 40).Select(_ => Elsewhere(async () =>
        {
            await using EtcdLockHandle h = await provider.AcquireAsync(key, new EtcdLockOptions { WaitTimeout = TimeSpan.FromSeconds(60) });
            return h.FencingToken;
        })).ToArray();
        await Task.Delay(1000);
        Assert.InRange(provider.Probe.KeptLeaseCountExcludingSpares, 1, 2); // the holder's, and the next in line's
        Assert.InRange(provider.Probe.SpareLeaseCount, 0, 1); // and at most one spare for the TTL in use

        await held.DisposeAsync();
        long[] tokens = await Task.WhenAll(waiters).WaitAsync(TimeSpan.FromSeconds(60));
        Assert.Equal(40, tokens.Distinct().Count());
        Assert.Equal(0, provider.Probe.KeptLeaseCountExcludingSpares);
        Assert.InRange(provider.Probe.SpareLeaseCount, 0, 1);
    }

    [Fact]
    public async Task Many_cancelled_waiters_leave_the_queue_and_the_next_one_gets_the_lock()
    {
        var provider = NewProvider();
        string key = UniqueKey("queue-cancel");
        EtcdLockHandle held = await provider.AcquireAsync(key);
        using var cts = new CancellationTokenSource();
        var cancelled = Enumerable.Range(0, 5000)
            .Select(_ => provider.AcquireAsync(key, new EtcdLockOptions { WaitTimeout = TimeSpan.FromMinutes(5) }, cts.Token).AsTask())
            .ToArray();
        Task<EtcdLockHandle> last = Elsewhere(async () => await provider.AcquireAsync(key));
        await Task.Delay(200);
        var sw = Stopwatch.StartNew();
        cts.Cancel();
        foreach (Task t in cancelled)
        {
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => t);
        }

        Console.WriteLine($"5000 queued waiters cancelled in {sw.ElapsedMilliseconds} ms");
        await held.DisposeAsync();
        await using EtcdLockHandle got = await last.WaitAsync(TimeSpan.FromSeconds(20));
        Assert.True(got.FencingToken > held.FencingToken);
    }

    [Fact]
    public async Task Loss_is_reported_outside_the_context_of_the_request_that_started_the_keeper()
    {
        var logs = new ContextCapturingLoggerProvider();
        using var factory = LoggerFactory.Create(b => b.AddProvider(logs).SetMinimumLevel(LogLevel.Trace));
        var provider = new EtcdLockProvider(new EtcdLockProviderOptions { Endpoints = { Endpoints }, KeyPrefix = "/attributelock-tests" }, factory.CreateLogger<EtcdLockProvider>());
        try
        {
            ContextCapturingLoggerProvider.Request.Value = "request-1";
            await using (await provider.AcquireAsync(UniqueKey("ctx-first"), new EtcdLockOptions { TtlSeconds = 2 }))
            {
                await Task.Delay(1200); // renewal machinery started inside request-1
            }

            ContextCapturingLoggerProvider.Request.Value = null;
            EtcdLockHandle later = await Elsewhere(async () => await provider.AcquireAsync(UniqueKey("ctx-later"), new EtcdLockOptions { TtlSeconds = 2 }));
            await Client.LeaseRevokeAsync(new LeaseRevokeRequest { ID = later.LeaseId });
            await Eventually(() => Task.FromResult(logs.LostContexts.Count > 0), TimeSpan.FromSeconds(10), "the loss logged");
            Assert.All(logs.LostContexts, c => Assert.Null(c));
            await later.DisposeAsync();
        }
        finally
        {
            await provider.DisposeAsync();
        }
    }

    /// <summary>Makes every keep-alive write for one lease hang (a stalled stream), and counts those stalls.</summary>
    private sealed class StallKeepAliveInterceptor : Interceptor
    {
        private int _stalls;

        public long StalledLeaseId { get; set; } = -1;

        /// <summary>Stalls the keep-alives of every lease, from its first renewal on.</summary>
        public bool StallAll { get; set; }

        public int Stalls => Volatile.Read(ref _stalls);

        public override AsyncDuplexStreamingCall<TRequest, TResponse> AsyncDuplexStreamingCall<TRequest, TResponse>(ClientInterceptorContext<TRequest, TResponse> context, AsyncDuplexStreamingCallContinuation<TRequest, TResponse> continuation)
        {
            var call = continuation(context);
            if (typeof(TRequest) != typeof(LeaseKeepAliveRequest))
            {
                return call;
            }

            var writer = new StallingWriter<TRequest>(call.RequestStream, this);
            return new AsyncDuplexStreamingCall<TRequest, TResponse>(writer, call.ResponseStream, call.ResponseHeadersAsync, call.GetStatus, call.GetTrailers, call.Dispose);
        }

        private sealed class StallingWriter<T>(IClientStreamWriter<T> inner, StallKeepAliveInterceptor owner) : IClientStreamWriter<T>
        {
            public WriteOptions? WriteOptions { get => inner.WriteOptions; set => inner.WriteOptions = value; }

            public Task WriteAsync(T message) => WriteAsync(message, CancellationToken.None);

            public async Task WriteAsync(T message, CancellationToken cancellationToken)
            {
                if (message is LeaseKeepAliveRequest r && (owner.StallAll || r.ID == owner.StalledLeaseId))
                {
                    Interlocked.Increment(ref owner._stalls);
                    await Task.Delay(Timeout.Infinite, cancellationToken);
                }

                await inner.WriteAsync(message, cancellationToken);
            }

            public Task CompleteAsync() => inner.CompleteAsync();
        }
    }

    /// <summary>Delays unary calls (all, or only transactions) and the start of streams.</summary>
    private sealed class DelayInterceptor : Interceptor
    {
        public TimeSpan TxnDelay { get; set; }

        public Random? Random { get; set; }

        public TimeSpan MaxRandomDelay { get; set; }

        private TimeSpan Next()
        {
            if (Random is null)
            {
                return TimeSpan.Zero;
            }

            lock (Random)
            {
                return TimeSpan.FromMilliseconds(Random.NextDouble() * MaxRandomDelay.TotalMilliseconds);
            }
        }

        public override AsyncUnaryCall<TResponse> AsyncUnaryCall<TRequest, TResponse>(TRequest request, ClientInterceptorContext<TRequest, TResponse> context, AsyncUnaryCallContinuation<TRequest, TResponse> continuation)
        {
            TimeSpan before = request is TxnRequest && TxnDelay > TimeSpan.Zero ? TxnDelay : Next();
            TimeSpan after = Next();
            async Task<TResponse> Delayed()
            {
                await Task.Delay(before);
                using var call = continuation(request, context);
                TResponse response = await call.ResponseAsync;
                await Task.Delay(after); // the answer is late: etcd did the work, the caller may have given up
                return response;
            }

            Task<TResponse> response = Delayed();
            return new AsyncUnaryCall<TResponse>(response, Task.FromResult(new Metadata()), () => Status.DefaultSuccess, () => new Metadata(), () => { });
        }

        public override AsyncDuplexStreamingCall<TRequest, TResponse> AsyncDuplexStreamingCall<TRequest, TResponse>(ClientInterceptorContext<TRequest, TResponse> context, AsyncDuplexStreamingCallContinuation<TRequest, TResponse> continuation)
        {
            var call = continuation(context);
            var writer = new DelayingWriter<TRequest>(call.RequestStream, this);
            return new AsyncDuplexStreamingCall<TRequest, TResponse>(writer, call.ResponseStream, call.ResponseHeadersAsync, call.GetStatus, call.GetTrailers, call.Dispose);
        }

        private sealed class DelayingWriter<T>(IClientStreamWriter<T> inner, DelayInterceptor owner) : IClientStreamWriter<T>
        {
            public WriteOptions? WriteOptions { get => inner.WriteOptions; set => inner.WriteOptions = value; }

            public Task WriteAsync(T message) => WriteAsync(message, CancellationToken.None);

            public async Task WriteAsync(T message, CancellationToken cancellationToken)
            {
                await Task.Delay(owner.Next()); // not cancellable: the write itself then sees the cancellation
                await inner.WriteAsync(message, cancellationToken);
            }

            public Task CompleteAsync() => inner.CompleteAsync();
        }
    }

    private sealed class ContextCapturingLoggerProvider : ILoggerProvider
    {
        public static readonly AsyncLocal<string?> Request = new();

        public ConcurrentQueue<string?> LostContexts { get; } = new();

        public ILogger CreateLogger(string categoryName) => new CapturingLogger(this);

        public void Dispose()
        {
        }

        private sealed class CapturingLogger(ContextCapturingLoggerProvider owner) : ILogger
        {
            public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

            public bool IsEnabled(LogLevel logLevel) => true;

            public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
            {
                if (formatter(state, exception).StartsWith("Lost lock", StringComparison.Ordinal))
                {
                    owner.LostContexts.Enqueue(Request.Value);
                }
            }
        }
    }
}
