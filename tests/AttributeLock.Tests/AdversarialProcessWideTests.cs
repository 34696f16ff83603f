using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net.Sockets;
using System.Text;
using AttributeLock.EtcdFixture;
using dotnet_etcd;
using Etcdserverpb;
using Grpc.Core;
using Grpc.Core.Interceptors;
using static AttributeLock.Tests.AdversarialProviders;

namespace AttributeLock.Tests;

/// <summary>
/// Adversarial experiments that disturb or watch the whole test process: one starves its thread pool on purpose, the
/// others count every unobserved task exception the process reports. They run alone (<see cref="AdversarialCollection"/>).
/// </summary>
[Collection(nameof(AdversarialCollection))]
public sealed class AdversarialProcessWideTests : ProviderTestBase
{
    // ------------------------------------------------------------------------------------------------------------
    // Thread-pool starvation: the deadline passed, etcd deleted the key, another client took it; IsLost?
    // ------------------------------------------------------------------------------------------------------------

    /// <summary>One HTTP/1.1 POST to etcd's JSON gateway over a blocking socket (needs no thread-pool thread).</summary>
    private static string RawPost(string endpoint, string path, string json)
    {
        var uri = new Uri(endpoint);
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { ReceiveTimeout = 5000, SendTimeout = 5000 };
        socket.Connect(System.Net.IPAddress.Parse(uri.Host), uri.Port);
        byte[] body = Encoding.UTF8.GetBytes(json);
        string head = $"POST {path} HTTP/1.1\r\nHost: {uri.Host}:{uri.Port}\r\nContent-Type: application/json\r\nContent-Length: {body.Length}\r\nConnection: close\r\n\r\n";
        socket.Send(Encoding.ASCII.GetBytes(head));
        socket.Send(body);
        var response = new MemoryStream();
        var buffer = new byte[8192];
        int n;
        while ((n = socket.Receive(buffer)) > 0)
        {
            response.Write(buffer, 0, n);
        }

        return Encoding.UTF8.GetString(response.ToArray());
    }

    private static string B64(string s) => Convert.ToBase64String(Encoding.UTF8.GetBytes(s));

    [Fact]
    public async Task Adversarial_IsLost_is_true_once_another_client_took_the_key_even_when_the_thread_pool_is_starved()
    {
        var provider = NewProvider();
        string key = UniqueKey("adv-starved");
        EtcdLockHandle handle = await provider.AcquireAsync(key, new EtcdLockOptions { TtlSeconds = 2 });
        long ttl = handle.TtlSeconds;
        string endpoint = SharedEtcd.First(Endpoints);
        string fullKey = handle.Key;
        var observed = new TaskCompletionSource<(bool Intruded, bool IsLost, long AfterMs, string Txn)>(TaskCreationOptions.RunContinuationsAsynchronously);
        using var unblock = new ManualResetEventSlim();

        // A dedicated thread (not the pool) plays both the starving application and the other client.
        var thread = new Thread(() =>
        {
            try
            {
                var sw = Stopwatch.StartNew();
                for (int i = 0; i < 300; i++)
                {
                    ThreadPool.UnsafeQueueUserWorkItem(_ => unblock.Wait(), null); // e.g. sync-over-async request handlers
                }

                Thread.Sleep(TimeSpan.FromSeconds(ttl + 2.5)); // no renewal can have been confirmed: the deadline has passed
                string txn = RawPost(endpoint, "/v3/kv/txn",
                    $"{{\"compare\":[{{\"key\":\"{B64(fullKey)}\",\"target\":\"VERSION\",\"result\":\"EQUAL\",\"version\":\"0\"}}],\"success\":[{{\"request_put\":{{\"key\":\"{B64(fullKey)}\",\"value\":\"{B64("intruder")}\"}}}}]}}");
                bool intruded = txn.Contains("\"succeeded\":true", StringComparison.Ordinal);
                bool lost = handle.IsLost; // what the owner sees when it checks before its next write
                long after = sw.ElapsedMilliseconds;
                unblock.Set();
                observed.SetResult((intruded, lost, after, txn));
            }
            catch (Exception ex)
            {
                unblock.Set();
                observed.SetException(ex);
            }
        }) { IsBackground = true };
        thread.Start();

        var (intruded, isLost, afterMs, txnAnswer) = await observed.Task.WaitAsync(TimeSpan.FromSeconds(60));
        await Client.DeleteAsync(fullKey);
        await handle.DisposeAsync();
        Assert.True(intruded, "setup: the other client should have taken the expired key: " + txnAnswer);
        Assert.True(isLost, $"{afterMs} ms after the last possible renewal (TTL {ttl} s) another client holds the key, but the owner's IsLost is still false: the deadline is only checked by a thread-pool timer callback, which a busy pool delays");
        // The loss report gives the renewal figures. Whether it can also blame the process ("ran its renewals late")
        // depends on whether the pool ran the first renewal timer before it starved (2 of 12 stress runs it did: one
        // renewal was sent, its answer never processed), so only the figures are required here.
        string reason = handle.Hold.LostReason ?? "";
        Console.WriteLine(reason);
        Assert.Matches(@"no renewal confirmed within the lease's TTL of 2 s \(granted \d+ ms ago; renewals: \d+ sent, \d+ answered", reason);
    }

    // ------------------------------------------------------------------------------------------------------------
    // Unobserved task exceptions from waits that end by timeout or cancellation.
    // ------------------------------------------------------------------------------------------------------------

    /// <summary>
    /// Runs <paramref name="scenario"/>, then lets abandoned tasks be collected and finalized (which is when an
    /// unobserved fault is reported), and fails if any task exception went unobserved meanwhile.
    /// </summary>
    private static async Task AssertNoUnobservedTaskExceptionAsync(Func<Task> scenario)
    {
        // Tasks abandoned before this scenario (other tests of the process) are finalized first, so that what is
        // counted is what this scenario leaves. (Grpc.Net.Client's retry path leaves one unobserved fault per few calls
        // to an unreachable endpoint through dotnet-etcd's channel: a known finding of 2026-12-03, not this scenario's.)
        for (int i = 0; i < 2; i++)
        {
            GC.Collect();
            GC.WaitForPendingFinalizers();
        }

        var unobserved = new ConcurrentQueue<Exception>();
        EventHandler<UnobservedTaskExceptionEventArgs> onUnobserved = (_, e) => unobserved.Enqueue(e.Exception);
        TaskScheduler.UnobservedTaskException += onUnobserved;
        try
        {
            await scenario();
            await Task.Delay(500);
            for (int i = 0; i < 3; i++)
            {
                GC.Collect();
                GC.WaitForPendingFinalizers();
            }

            await Task.Delay(200);
        }
        finally
        {
            TaskScheduler.UnobservedTaskException -= onUnobserved;
        }

        Assert.True(unobserved.IsEmpty, $"{unobserved.Count} unobserved task exceptions, e.g.: {unobserved.FirstOrDefault()?.InnerException}");
    }

    [Fact]
    public async Task Adversarial_waits_that_time_out_or_are_cancelled_leave_no_unobserved_task_exception()
    {
        await AssertNoUnobservedTaskExceptionAsync(async () =>
        {
            var holder = NewProvider();
            var waiter = NewProvider(tune: s => s with { WatchRecheckInterval = TimeSpan.FromMilliseconds(100) });
            string key = UniqueKey("adv-unobserved");
            await using EtcdLockHandle held = await holder.AcquireAsync(key);
            for (int i = 0; i < 10; i++)
            {
                Assert.Null(await waiter.TryAcquireAsync(key, new EtcdLockOptions { WaitTimeout = TimeSpan.FromMilliseconds(250) }));
                using var cts = new CancellationTokenSource(TimeSpan.FromMilliseconds(250));
                await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => await waiter.AcquireAsync(key, cancellationToken: cts.Token));
            }
        });
    }

    /// <summary>Runs <paramref name="onWatch"/> synchronously before a watch stream is opened.</summary>
    private sealed class BeforeWatchInterceptor(Action onWatch) : Interceptor
    {
        public override AsyncDuplexStreamingCall<TRequest, TResponse> AsyncDuplexStreamingCall<TRequest, TResponse>(ClientInterceptorContext<TRequest, TResponse> context, AsyncDuplexStreamingCallContinuation<TRequest, TResponse> continuation)
        {
            if (typeof(TRequest) == typeof(WatchRequest))
            {
                onWatch();
            }

            return continuation(context);
        }
    }

    [Fact]
    public async Task Adversarial_a_wait_that_ends_before_etcd_answered_its_watch_leaves_no_unobserved_task_exception()
    {
        // A wait can end while the watch's first read is still pending (here: etcd stops before it answers the watch,
        // and the periodic read, failing, ends the wait). The call is then disposed and that read faults ("gRPC call
        // disposed"; seen once in 20 stress runs, under load and provider dispose): it must still be observed.
        await AssertNoUnobservedTaskExceptionAsync(async () =>
        {
            await using var server = await EtcdServer.StartAsync();
            int armed = 1;
            var pauseOnWatch = new BeforeWatchInterceptor(() =>
            {
                if (Interlocked.Exchange(ref armed, 0) == 1)
                {
                    server.Pause();
                }
            });
            await using var holder = PrivateProvider(server);
            await using var waiter = PrivateProvider(server, TimeSpan.FromSeconds(1), s => s with { WatchRecheckInterval = TimeSpan.FromMilliseconds(200) }, pauseOnWatch);
            EtcdLockHandle held = await holder.AcquireAsync("/unanswered-watch", new EtcdLockOptions { TtlSeconds = 30 });
            Task<EtcdLockHandle> waiting = waiter.AcquireAsync("/unanswered-watch", new EtcdLockOptions { TtlSeconds = 30, WaitTimeout = TimeSpan.FromMinutes(1) }).AsTask();
            await Task.Delay(3000);
            Assert.Equal(0, Volatile.Read(ref armed));
            server.Resume();
            Assert.False(waiting.IsCompleted, $"the waiter gave up while etcd was stopped: {waiting.Exception?.InnerException}");
            await held.DisposeAsync();
            await using (EtcdLockHandle got = await waiting.WaitAsync(TimeSpan.FromSeconds(30)))
            {
                Assert.True(got.FencingToken > held.FencingToken);
            }
        });
    }

    // ------------------------------------------------------------------------------------------------------------
    // Provider dispose racing with acquires in every step, holds and releases.
    // ------------------------------------------------------------------------------------------------------------

    [Fact]
    public async Task Adversarial_dispose_racing_with_acquires_and_releases_leaves_no_lease_no_key_and_no_stray_exception()
    {
        await using var server = await EtcdServer.StartAsync();
        var kinds = new ConcurrentDictionary<string, int>();
        await AssertNoUnobservedTaskExceptionAsync(async () =>
        {
            using var client = new EtcdClient(server.Endpoint);
            for (int round = 0; round < 3; round++)
            {
                await using var holder = PrivateProvider(server);
                var provider = PrivateProvider(server);
                await using EtcdLockHandle held = await holder.AcquireAsync("/busy");
                var tasks = new List<Task>();
                for (int i = 0; i < 40; i++)
                {
                    string key = i % 2 == 0 ? "/busy" : $"/free-{i % 5}";
                    int holdMs = i * 7 % 50;
                    tasks.Add(Task.Run(async () =>
                    {
                        try
                        {
                            await using EtcdLockHandle h = await provider.AcquireAsync(key, new EtcdLockOptions { TtlSeconds = 2 });
                            await Task.Delay(holdMs);
                            kinds.AddOrUpdate(h.IsLost ? "acquired-then-lost" : "acquired", 1, (_, n) => n + 1);
                        }
                        catch (ObjectDisposedException)
                        {
                            kinds.AddOrUpdate("disposed", 1, (_, n) => n + 1);
                        }
                    }));
                }

                await Task.Delay(20 + round * 40);
                await provider.DisposeAsync();
                await Task.WhenAll(tasks).WaitAsync(TimeSpan.FromSeconds(30)); // anything but ObjectDisposedException fails here
                Assert.Equal(0, provider.Probe.KeptLeaseCount);
                await held.DisposeAsync();
                await holder.DisposeAsync();
                await Task.Delay(500);
                var leases = (await client.LeaseLeasesAsync(new LeaseLeasesRequest())).Leases;
                var keys = await client.GetRangeAsync("/");
                Assert.True(leases.Count == 0, $"round {round}: {leases.Count} leases left after dispose: {string.Join(",", leases.Select(l => l.ID))}");
                Assert.True(keys.Kvs.Count == 0, $"round {round}: keys left: {string.Join(",", keys.Kvs.Select(k => k.Key.ToStringUtf8()))}");
            }
        });
        Console.WriteLine(string.Join(", ", kinds.Select(k => $"{k.Key}={k.Value}")));
    }
}
