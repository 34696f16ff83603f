using System.Diagnostics.Metrics;
using AttributeLock.EtcdFixture;
using Etcdserverpb;
using Grpc.Core;
using Grpc.Core.Interceptors;

namespace AttributeLock.Tests;

/// <summary>
/// Past what etcd answers, a provider says so: the renewal lag is published, and new acquires wait, then are refused
/// with the reason, instead of piling more leases onto renewals that are already late.
/// </summary>
[Collection(nameof(LeaseCountingCollection))]
public sealed class BackPressureTests(CollectionEtcd etcd) : ProviderTestBase
{
    protected override Task<string> EndpointsAsync() => Task.FromResult(etcd.Endpoint);

    [Fact]
    public async Task When_renewals_fall_behind_new_acquires_are_refused_with_the_reason_and_the_lag_is_published()
    {
        // etcd's answers to renewals are slowed to about 300 a second on this provider; 1,500 TTL-10 holds want 450.
        var slow = new SlowKeepAliveAnswers();
        var provider = NewProvider(o => o.ConnectTimeout = TimeSpan.FromSeconds(2), interceptors: [slow]);
        double lastLag = 0;
        long lastKept = 0;
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter == provider.Probe.Meter && instrument.Name is EtcdLockTelemetry.RenewalLag or EtcdLockTelemetry.KeptLeases)
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<double>((_, value, _, _) => lastLag = value);
        listener.SetMeasurementEventCallback<int>((_, value, _, _) => lastKept = value);
        listener.Start();

        string prefix = UniqueKey("back-pressure");
        var handles = new List<EtcdLockHandle>();
        EtcdLockUnavailableException? refused = null;
        try
        {
            for (int i = 0; i < 1500 && refused is null; i += 50)
            {
                try
                {
                    handles.AddRange(await Task.WhenAll(Enumerable.Range(i, 50).Select(n =>
                        provider.AcquireAsync($"{prefix}/{n}", new EtcdLockOptions { TtlSeconds = 10 }).AsTask())));
                }
                catch (EtcdLockUnavailableException ex)
                {
                    refused = ex;
                }
            }

            // Renewals start a third of a TTL after the grants and fall behind from then on; once they are a second
            // behind, the next acquire is refused after waiting one connect timeout.
            var sw = System.Diagnostics.Stopwatch.StartNew();
            for (int attempt = 0; sw.Elapsed < TimeSpan.FromSeconds(30) && refused is null; attempt++)
            {
                await Task.Delay(200);
                try
                {
                    handles.Add(await provider.AcquireAsync($"{prefix}/extra-{attempt}", new EtcdLockOptions { TtlSeconds = 10 }));
                }
                catch (EtcdLockUnavailableException ex)
                {
                    refused = ex;
                }
            }

            listener.RecordObservableInstruments();
            Console.WriteLine($"{handles.Count} holds taken; refused: {refused?.Message}; lag gauge {lastLag:0} ms, kept-leases gauge {lastKept}");
            Assert.NotNull(refused);
            Assert.Contains("ms behind", refused!.Message);
            Assert.True(refused.IsTransient);
            Assert.True(lastKept > 0, "the kept-leases gauge was not published");
            Assert.True(lastLag >= 1000, $"the renewal-lag gauge said {lastLag} ms while acquires were refused for lag");

            // Held back, an acquire still ends as every other wait does: the caller's cancellation is a cancellation,
            // and a wait timeout shorter than the hold-back refuses it with the reason, not "busy".
            Assert.True(provider.RenewalLag >= EtcdLockProvider.RenewalLagLimit, $"the renewals caught up ({provider.RenewalLag.TotalMilliseconds:0} ms behind) before the hold-back could be checked");
            using (var cancel = new CancellationTokenSource(TimeSpan.FromMilliseconds(300)))
            {
                var cancelled = await Assert.ThrowsAsync<OperationCanceledException>(() => // exactly: the engine's own, not a Task.Delay's
                    provider.AcquireAsync($"{prefix}/cancelled", new EtcdLockOptions { TtlSeconds = 10 }, cancel.Token).AsTask());
                Assert.Equal(cancel.Token, cancelled.CancellationToken);
            }

            var shortWait = await Assert.ThrowsAsync<EtcdLockUnavailableException>(() =>
                provider.AcquireAsync($"{prefix}/short-wait", new EtcdLockOptions { TtlSeconds = 10, WaitTimeout = TimeSpan.FromMilliseconds(300) }).AsTask());
            Assert.Contains("ms behind", shortWait.Message);
        }
        finally
        {
            slow.Stop();
            await Task.WhenAll(handles.Select(h => h.DisposeAsync().AsTask()));
        }
    }

    [Fact]
    public async Task Past_what_its_renewals_can_carry_a_large_session_refuses_new_acquires_and_loses_no_hold()
    {
        // Renewal answers slowed to about 300 a second at most (fewer on a loaded machine). The session counts as large
        // from 50 renewals a second (the default is 500), so its ramp, pressure and capacity rules apply from 84 TTL-5
        // holds on. Asked for 2,000 holds (1,200 renewals a second), it must stop short of what it can renew.
        var slow = new SlowKeepAliveAnswers();
        var provider = NewProvider(o => o.ConnectTimeout = TimeSpan.FromSeconds(2), interceptors: [slow], tune: s => s with { LargeSessionRenewals = 50 });
        string prefix = UniqueKey("capacity");
        var handles = new List<EtcdLockHandle>();
        var refusals = new List<string>();
        int lost = 0;
        try
        {
            for (int i = 0; i < 2000 && refusals.Count == 0; i += 25)
            {
                EtcdLockHandle?[] batch = await Task.WhenAll(Enumerable.Range(i, 25).Select(async n =>
                {
                    try
                    {
                        return await provider.AcquireAsync($"{prefix}/{n}", new EtcdLockOptions { TtlSeconds = 5 });
                    }
                    catch (EtcdLockUnavailableException ex)
                    {
                        Assert.True(ex.IsTransient);
                        lock (refusals)
                        {
                            refusals.Add(ex.Message);
                        }

                        return null;
                    }
                }));
                foreach (EtcdLockHandle? h in batch.OfType<EtcdLockHandle>())
                {
                    h.LostToken.Register(() => Interlocked.Increment(ref lost));
                    handles.Add(h);
                }
            }

            // Keep what was taken for two TTLs: a session that took more than it can renew loses holds now.
            await Task.Delay(TimeSpan.FromSeconds(10));
            Console.WriteLine($"{handles.Count} holds taken, {Volatile.Read(ref lost)} lost; demand {provider.RenewalDemand:0}/s, capacity {provider.RenewalCapacity:0}/s, lag {provider.RenewalLag.TotalMilliseconds:0} ms; " +
                $"{refusals.Count} refused, first: {refusals.FirstOrDefault()}");
            Assert.NotEmpty(refusals);
            Assert.All(refusals, m => Assert.Contains("was not tried", m));
            Assert.InRange(handles.Count, 84, 1999);
            Assert.Equal(0, Volatile.Read(ref lost));
            Assert.InRange(provider.RenewalDemand, handles.Count * 0.6 - 0.01, (handles.Count + 10) * 0.6); // spares and pre-grants count too
        }
        finally
        {
            slow.Stop();
            await Task.WhenAll(handles.Select(h => h.DisposeAsync().AsTask()));
        }
    }

    /// <summary>Hands each keep-alive answer over after a short delay, one at a time: a slow but answering etcd.</summary>
    private sealed class SlowKeepAliveAnswers : Interceptor
    {
        private volatile bool _stopped;

        public void Stop() => _stopped = true;

        public override AsyncDuplexStreamingCall<TRequest, TResponse> AsyncDuplexStreamingCall<TRequest, TResponse>(ClientInterceptorContext<TRequest, TResponse> context, AsyncDuplexStreamingCallContinuation<TRequest, TResponse> continuation)
        {
            var call = continuation(context);
            if (typeof(TResponse) != typeof(LeaseKeepAliveResponse))
            {
                return call;
            }

            return new AsyncDuplexStreamingCall<TRequest, TResponse>(call.RequestStream, new SlowReader<TResponse>(call.ResponseStream, this), call.ResponseHeadersAsync, call.GetStatus, call.GetTrailers, call.Dispose);
        }

        private sealed class SlowReader<T>(IAsyncStreamReader<T> inner, SlowKeepAliveAnswers owner) : IAsyncStreamReader<T>
        {
            public T Current => inner.Current;

            public async Task<bool> MoveNext(CancellationToken cancellationToken)
            {
                if (!owner._stopped)
                {
                    await Task.Delay(3, cancellationToken);
                }

                return await inner.MoveNext(cancellationToken);
            }
        }
    }
}
