using System.Diagnostics;
using System.Runtime.CompilerServices;
using Etcdserverpb;
using Grpc.Core;
using Grpc.Core.Interceptors;

namespace AttributeLock.Tests;

/// <summary>
/// Adversarial review of the engine, on the shared etcd: each test is an experiment that tries to get two holders inside
/// at once, a loss never signalled, a leak or a hang (abandoned handles, nested calls under a lost hold, retried
/// transactions and grants, two providers in one process). The experiments on an etcd of their own are in
/// <see cref="AdversarialEtcdStallTests"/>; those that watch or disturb the whole test process in
/// <see cref="AdversarialProcessWideTests"/>.
/// </summary>
public sealed class AdversarialTests : ProviderTestBase
{
    /// <summary>What a generated wrapper does (see the generator's Emitter): enter, run the core with the scope's token, dispose.</summary>
    private static async Task<T?> Wrapper<T>(IEtcdLockProvider provider, string key, int ttl, int waitMs, CancellationToken ct, Func<EtcdLockHandle?, CancellationToken, Task<T>> core)
    {
        var scope = await EtcdLockInvocation.EnterAsync(provider, key, ttl, waitMs, LockBusyBehavior.Throw, ct).ConfigureAwait(false);
        try
        {
            return await core(scope.Handle, scope.CancellationToken).ConfigureAwait(false);
        }
        finally
        {
            await scope.DisposeAsync().ConfigureAwait(false);
        }
    }

    // ------------------------------------------------------------------------------------------------------------
    // Abandoned handle: the finalizer releases the key while the owner still runs with the hold's LostToken.
    // ------------------------------------------------------------------------------------------------------------

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static async Task<CancellationToken> AcquireKeepingOnlyTheLostTokenAsync(EtcdLockProvider provider, string key)
    {
        EtcdLockHandle handle = await provider.AcquireAsync(key, new EtcdLockOptions { TtlSeconds = 30 });
        return handle.LostToken; // the owner goes on working with the token only (and forgets to dispose)
    }

    [Fact]
    public async Task Adversarial_abandoned_handle_released_by_the_finalizer_cancels_the_LostToken_its_owner_still_works_with()
    {
        var provider = NewProvider();
        var other = NewProvider();
        string key = UniqueKey("adv-abandoned-token");
        CancellationToken ownersToken = await AcquireKeepingOnlyTheLostTokenAsync(provider, key);

        EtcdLockHandle? theirs = null;
        var sw = Stopwatch.StartNew();
        while (theirs is null && sw.Elapsed < TimeSpan.FromSeconds(20))
        {
            GC.Collect();
            GC.WaitForPendingFinalizers();
            theirs = await other.TryAcquireAsync(key, new EtcdLockOptions { WaitTimeout = TimeSpan.FromMilliseconds(500) });
        }

        Assert.NotNull(theirs); // the key moved to another holder (30 s TTL: only the finalizer's release frees it)
        await Task.Delay(500);  // loss signals run on the thread pool: give them time
        bool told = ownersToken.IsCancellationRequested;
        await theirs!.DisposeAsync();
        Assert.True(told, $"another holder got the key after {sw.ElapsedMilliseconds} ms (the abandoned hold was released by the finalizer) but the first owner's LostToken was never cancelled: two holders inside, the first one not told");
    }

    // ------------------------------------------------------------------------------------------------------------
    // Nested wrapper call under a lost outer hold of the same flow.
    // ------------------------------------------------------------------------------------------------------------

    [Fact]
    public async Task Adversarial_a_nested_wrapper_call_after_the_outer_hold_was_lost_does_not_hang()
    {
        var provider = NewProvider();
        var other = NewProvider();
        string key = UniqueKey("adv-nested-after-loss");
        var innerOutcome = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        var freeInEtcd = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);

        Task<int> outer = Wrapper(provider, key, 5, -1, CancellationToken.None, async (h, ct) =>
        {
            await Client.LeaseRevokeAsync(new LeaseRevokeRequest { ID = h!.LeaseId }); // the hold is lost
            await Eventually(() => Task.FromResult(h.IsLost), TimeSpan.FromSeconds(10), "the outer hold lost");
            await using (EtcdLockHandle? theirs = await other.TryAcquireAsync(key))
            {
                freeInEtcd.TrySetResult(theirs is not null);
            }

            try
            {
                // A [EtcdLock] method on the same key that takes no CancellationToken (waits without limit: the default).
                await Wrapper(provider, key, 5, -1, CancellationToken.None, (_, _) => Task.FromResult(0));
                innerOutcome.TrySetResult("the inner call ran");
            }
            catch (Exception ex)
            {
                innerOutcome.TrySetResult(ex.GetType().Name);
            }

            return 0;
        });

        Assert.True(await freeInEtcd.Task.WaitAsync(TimeSpan.FromSeconds(20)), "setup: the key should be free in etcd");
        string? outcome = null;
        try
        {
            outcome = await innerOutcome.Task.WaitAsync(TimeSpan.FromSeconds(15));
        }
        catch (TimeoutException)
        {
        }

        Assert.True(outcome is not null, "a wrapper call nested in its own flow's lost hold hung for 15 s: the key is free in etcd, but the call queues on the provider's local gate, which the lost outer hold keeps until the outer call returns — and the outer call is awaiting this call (self-deadlock)");
        await outer.WaitAsync(TimeSpan.FromSeconds(10));
    }

    // ------------------------------------------------------------------------------------------------------------
    // The retried transaction: a committed Put whose answer was lost.
    // ------------------------------------------------------------------------------------------------------------

    /// <summary>Sends each lock transaction twice and returns the second answer (what a client retry after a lost answer sees).</summary>
    private sealed class RetryTxnInterceptor : Interceptor
    {
        public int Retried;

        public override AsyncUnaryCall<TResponse> AsyncUnaryCall<TRequest, TResponse>(TRequest request, ClientInterceptorContext<TRequest, TResponse> context, AsyncUnaryCallContinuation<TRequest, TResponse> continuation)
        {
            if (request is not TxnRequest)
            {
                return continuation(request, context);
            }

            async Task<TResponse> Twice()
            {
                using (var first = continuation(request, context))
                {
                    await first.ResponseAsync; // committed; the answer is "lost"
                }

                Interlocked.Increment(ref Retried);
                using var second = continuation(request, context);
                return await second.ResponseAsync;
            }

            return new AsyncUnaryCall<TResponse>(Twice(), Task.FromResult(new Metadata()), () => Status.DefaultSuccess, () => new Metadata(), () => { });
        }
    }

    [Fact]
    public async Task Adversarial_a_retried_lock_transaction_is_recognised_and_the_hold_is_exclusive_and_released()
    {
        var retry = new RetryTxnInterceptor();
        var provider = NewProvider(interceptors: [retry]);
        var other = NewProvider();
        string key = UniqueKey("adv-retried");
        EtcdLockHandle handle = await provider.AcquireAsync(key, new EtcdLockOptions { TtlSeconds = 3, WaitTimeout = TimeSpan.FromSeconds(5) });
        Assert.True(retry.Retried > 0);
        Mvccpb.KeyValue? kv = await GetKeyAsync(handle.Key);
        Assert.NotNull(kv);
        Assert.Equal(handle.FencingToken, kv!.CreateRevision);
        Assert.Equal(handle.LeaseId, kv.Lease);
        Assert.Null(await other.TryAcquireAsync(key, new EtcdLockOptions { WaitTimeout = TimeSpan.FromSeconds(3) }));
        Assert.False(handle.IsLost);
        await handle.DisposeAsync();
        Assert.Null(await GetKeyAsync(handle.Key));
        Assert.Equal(0, provider.Probe.KeptLeaseCountExcludingSpares);
    }

    // ------------------------------------------------------------------------------------------------------------
    // Local queue: the next in line's pre-granted lease failed during a short etcd blip, long before its turn.
    // ------------------------------------------------------------------------------------------------------------

    private sealed class FailGrantInterceptor : Interceptor
    {
        public int FailNext;

        public override AsyncUnaryCall<TResponse> AsyncUnaryCall<TRequest, TResponse>(TRequest request, ClientInterceptorContext<TRequest, TResponse> context, AsyncUnaryCallContinuation<TRequest, TResponse> continuation)
        {
            if (request is LeaseGrantRequest && Interlocked.Exchange(ref FailNext, 0) == 1)
            {
                var failed = Task.FromException<TResponse>(new RpcException(new Status(StatusCode.Unavailable, "simulated blip")));
                return new AsyncUnaryCall<TResponse>(failed, Task.FromResult(new Metadata()), () => new Status(StatusCode.Unavailable, "simulated blip"), () => new Metadata(), () => { });
            }

            return continuation(request, context);
        }
    }

    [Fact]
    public async Task Adversarial_a_failed_pregrant_long_before_the_turn_does_not_fail_the_acquire_when_etcd_is_healthy_again()
    {
        var fail = new FailGrantInterceptor();
        // Without spares: B must fall back to a grant of its own (with spares it would take the spare instead).
        var provider = NewProvider(o => o.SpareLeases = false, interceptors: [fail]);
        var holder = NewProvider();
        string key = UniqueKey("adv-pregrant");
        EtcdLockHandle held = await holder.AcquireAsync(key);

        // A waits in etcd (holding the local gate); B queues behind A and pre-grants: that grant fails (a blip).
        Task<EtcdLockHandle> a = provider.AcquireAsync(key, new EtcdLockOptions { WaitTimeout = TimeSpan.FromSeconds(30) }).AsTask();
        await Task.Delay(500);
        Volatile.Write(ref fail.FailNext, 1);
        Task<EtcdLockHandle> b = provider.AcquireAsync(key, new EtcdLockOptions { WaitTimeout = TimeSpan.FromSeconds(30) }).AsTask();
        await Eventually(() => Task.FromResult(Volatile.Read(ref fail.FailNext) == 0), TimeSpan.FromSeconds(5), "B's pregrant sent");
        await Task.Delay(2000); // etcd is healthy for a long time before B's turn

        await held.DisposeAsync();
        await (await a.WaitAsync(TimeSpan.FromSeconds(10))).DisposeAsync();
        Exception? ex = await Record.ExceptionAsync(async () => await (await b.WaitAsync(TimeSpan.FromSeconds(10))).DisposeAsync());
        Assert.True(ex is null, $"B's turn came while etcd was healthy, but it failed with the 2-second-old error of its pre-grant: {ex?.GetType().Name}: {ex?.Message}");
    }

    // ------------------------------------------------------------------------------------------------------------
    // Two providers in one process on one key; holds released exactly when their first renewal (and watch) starts.
    // ------------------------------------------------------------------------------------------------------------

    [Fact]
    public async Task Adversarial_two_providers_in_one_process_never_let_two_callers_inside()
    {
        var p1 = NewProvider();
        var p2 = NewProvider();
        string key = UniqueKey("adv-two-providers");
        int inside = 0, max = 0, done = 0;
        var tasks = Enumerable.Range(0, 16).Select(i => Task.Run(async () =>
        {
            var p = i % 2 == 0 ? p1 : p2;
            for (int k = 0; k < 6; k++)
            {
                await using EtcdLockHandle h = await p.AcquireAsync(key, new EtcdLockOptions { TtlSeconds = 2, WaitTimeout = TimeSpan.FromSeconds(60) });
                int now = Interlocked.Increment(ref inside);
                int seen;
                while ((seen = Volatile.Read(ref max)) < now && Interlocked.CompareExchange(ref max, now, seen) != seen)
                {
                }

                await Task.Delay(k * 130 % 700); // some holds end right around the first renewal (TTL/3 = 667 ms)
                Interlocked.Decrement(ref inside);
                Interlocked.Increment(ref done);
            }
        })).ToArray();
        await Task.WhenAll(tasks).WaitAsync(TimeSpan.FromSeconds(120));
        Assert.Equal(96, done);
        Assert.Equal(1, max);
        await Eventually(() => Task.FromResult(p1.Probe.WatchedKeyCount == 0 && p2.Probe.WatchedKeyCount == 0 && p1.Probe.KeptLeaseCountExcludingSpares == 0 && p2.Probe.KeptLeaseCountExcludingSpares == 0), TimeSpan.FromSeconds(5), "no watch and no lease left (spares aside)");
    }
}
