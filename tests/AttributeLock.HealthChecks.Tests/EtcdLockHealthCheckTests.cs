using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using AttributeLock.HealthChecks;
using AttributeLock.EtcdFixture;
using dotnet_etcd;
using Etcdserverpb;
using Grpc.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;

namespace AttributeLock.HealthChecks.Tests;

/// <summary><c>AddHealthChecks().AddEtcdLocks()</c> against a real etcd: healthy, unreachable, and after a lost hold.</summary>
public sealed class EtcdLockHealthCheckTests
{
    private static ServiceProvider Container(string endpoints, TimeSpan connectTimeout, TimeSpan? window = null, TimeProvider? time = null)
    {
        var services = new ServiceCollection().AddLogging().AddMetrics();
        if (time is not null)
        {
            services.AddSingleton(time);
        }

        services.AddEtcdLocks(o =>
        {
            o.Endpoints.Add(endpoints);
            o.KeyPrefix = "/attributelock-health-tests";
            o.ConnectTimeout = connectTimeout;
        });
        services.AddHealthChecks().AddEtcdLocks(degradedWindow: window);
        return services.BuildServiceProvider();
    }

    private static async Task<HealthReportEntry> CheckAsync(IServiceProvider sp)
    {
        HealthReport report = await sp.GetRequiredService<HealthCheckService>().CheckHealthAsync();
        return report.Entries[EtcdLockHealthChecksBuilderExtensions.DefaultName];
    }

    [Fact]
    public async Task Healthy_when_etcd_answers_and_no_hold_was_lost()
    {
        await using ServiceProvider sp = Container(await SharedEtcd.GetEndpointsAsync(), TimeSpan.FromSeconds(5));

        HealthReportEntry entry = await CheckAsync(sp);

        Assert.Equal(HealthStatus.Healthy, entry.Status);
        Assert.Contains("etcd answered", entry.Description);
        Assert.Equal(0, (int)entry.Data["holdsLostInWindow"]);
        Assert.True((double)entry.Data["roundTripMs"] >= 0);

        // The renewals the held locks need are reported: one TTL-3 hold is renewed every second (its spare, refilled in
        // the background, once more).
        Assert.Equal(0.0, (double)entry.Data["renewalDemandPerSecond"]);
        await using (await sp.GetRequiredService<EtcdLockProvider>().AcquireAsync("health-demand", new EtcdLockOptions { TtlSeconds = 3 }))
        {
            entry = await CheckAsync(sp);
            Assert.Equal(HealthStatus.Healthy, entry.Status);
            Assert.InRange((double)entry.Data["renewalDemandPerSecond"], 1.0, 2.0);
        }
    }

    [Fact]
    public async Task Reports_leader_and_follower_per_election_this_process_runs()
    {
        await using ServiceProvider sp = Container(await SharedEtcd.GetEndpointsAsync(), TimeSpan.FromSeconds(5));
        var provider = sp.GetRequiredService<EtcdLockProvider>();
        string election = "/health-election/" + Guid.NewGuid().ToString("N");
        using var stop = new CancellationTokenSource();
        var leading = new TaskCompletionSource();
        Task first = EtcdLeadership.RunAsync(provider, election, new EtcdLockOptions { TtlSeconds = 5 }, async token =>
        {
            leading.TrySetResult();
            await Task.Delay(Timeout.Infinite, token);
        }, stop.Token);
        await leading.Task.WaitAsync(TimeSpan.FromSeconds(10));

        // A second run of the same election in another provider (another process) follows; this process leads.
        await using var other = new EtcdLockProvider(new EtcdLockProviderOptions { Endpoints = { await SharedEtcd.GetEndpointsAsync() }, KeyPrefix = "/attributelock-health-tests" });
        Task second = EtcdLeadership.RunAsync(other, election, null, token => Task.Delay(Timeout.Infinite, token), stop.Token);
        HealthReportEntry entry = await CheckAsync(sp);
        Assert.Equal(HealthStatus.Healthy, entry.Status);
        Assert.Equal("leader", entry.Data["election:" + election]);
        Assert.Contains("leader of election " + election, entry.Description);
        Assert.Equal(EtcdElectionRole.Follower, EtcdLeadership.Roles(other)[election]);

        stop.Cancel();
        await Task.WhenAll(first, second).WaitAsync(TimeSpan.FromSeconds(10));
        entry = await CheckAsync(sp);
        Assert.False(entry.Data.ContainsKey("election:" + election), "an election no longer run is not reported");
    }

    [Fact]
    public async Task Unhealthy_within_the_connect_timeout_when_nothing_listens()
    {
        int port;
        using (var probe = new TcpListener(IPAddress.Loopback, 0))
        {
            probe.Start();
            port = ((IPEndPoint)probe.LocalEndpoint).Port;
        }

        TimeSpan timeout = TimeSpan.FromSeconds(2);
        await using ServiceProvider sp = Container($"http://127.0.0.1:{port}", timeout);

        Assert.Equal(HealthStatus.Unhealthy, (await CheckAsync(sp)).Status); // the first one also pays for JIT and DI
        var sw = Stopwatch.StartNew();
        HealthReportEntry entry = await CheckAsync(sp);
        sw.Stop();

        Assert.Equal(HealthStatus.Unhealthy, entry.Status);
        Assert.IsType<EtcdLockUnavailableException>(entry.Exception);
        Assert.Contains("cannot be reached", entry.Description);
        // Bounded by the connect timeout: the ping failed on the refused connection (or, at the latest, by its
        // deadline), which the exception shows whatever the load; the wall time only has to stay clear of a wait that
        // nothing bounds.
        Assert.True(entry.Exception!.InnerException is RpcException { StatusCode: StatusCode.Unavailable or StatusCode.DeadlineExceeded } or OperationCanceledException,
            $"the ping ended neither on the refused connection nor by its deadline: {entry.Exception.InnerException}");
        Assert.True(sw.Elapsed < 3 * timeout, $"took {sw.Elapsed}, three times the connect timeout");
    }

    [Fact]
    public async Task Unhealthy_at_the_connect_timeout_when_the_endpoint_accepts_but_never_answers()
    {
        // A silent server: TCP connections are accepted, nothing is ever sent back (a hung etcd, a black-holing proxy).
        using var silent = new TcpListener(IPAddress.Loopback, 0);
        silent.Start(backlog: 16);
        var accepted = new List<TcpClient>();
        using var stop = new CancellationTokenSource();
        Task acceptLoop = Task.Run(async () =>
        {
            try
            {
                while (true)
                {
                    accepted.Add(await silent.AcceptTcpClientAsync(stop.Token));
                }
            }
            catch (OperationCanceledException)
            {
            }
        });

        TimeSpan timeout = TimeSpan.FromSeconds(2);
        await using (ServiceProvider sp = Container($"http://127.0.0.1:{((IPEndPoint)silent.LocalEndpoint).Port}", timeout))
        {
            Assert.Equal(HealthStatus.Unhealthy, (await CheckAsync(sp)).Status); // the first one also pays for JIT and DI
            var sw = Stopwatch.StartNew();
            HealthReportEntry entry = await CheckAsync(sp);
            sw.Stop();

            Assert.Equal(HealthStatus.Unhealthy, entry.Status);
            Assert.IsType<EtcdLockUnavailableException>(entry.Exception);
            Assert.True(sw.Elapsed >= timeout - TimeSpan.FromMilliseconds(200), $"gave up early: {sw.Elapsed}");
            // Ended by the connect timeout: the ping's deadline fired (gRPC's DeadlineExceeded, or the cancellation its
            // deadline timer sometimes surfaces instead), which load cannot fake. The wall time (2.55 s at load 2 for
            // a 2 s timeout: the deadline's timer and what runs after it are late) is only held against a wait that
            // nothing bounds.
            Assert.True(entry.Exception!.InnerException is RpcException { StatusCode: StatusCode.DeadlineExceeded } or OperationCanceledException,
                $"the ping did not end by its deadline: {entry.Exception.InnerException}");
            Assert.True(sw.Elapsed < 3 * timeout, $"took {sw.Elapsed}, three times the connect timeout");
        }

        stop.Cancel();
        await acceptLoop;
        accepted.ForEach(c => c.Dispose());
    }

    [Fact]
    public async Task Degraded_after_a_hold_is_lost_in_a_host_and_healthy_again_after_the_window()
    {
        string endpoints = await SharedEtcd.GetEndpointsAsync();
        var clock = new ManualClock(DateTimeOffset.UtcNow);
        HostApplicationBuilder builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Services.AddMetrics();
        builder.Services.AddSingleton<TimeProvider>(clock);
        builder.Services.AddEtcdLocks(o =>
        {
            o.Endpoints.Add(endpoints);
            o.KeyPrefix = "/attributelock-health-tests";
        });
        builder.Services.AddHealthChecks().AddEtcdLocks(degradedWindow: TimeSpan.FromMinutes(5));
        using IHost host = builder.Build();
        await host.StartAsync();

        // A second, independent container: a hold lost in the first must not degrade it (it listens to its own meters).
        await using ServiceProvider other = Container(endpoints, TimeSpan.FromSeconds(5));
        Assert.Equal(HealthStatus.Healthy, (await CheckAsync(other)).Status);

        var provider = host.Services.GetRequiredService<EtcdLockProvider>();
        await using (EtcdLockHandle handle = await provider.AcquireAsync($"/degraded/{Guid.NewGuid():N}", new EtcdLockOptions { TtlSeconds = 5 }))
        {
            Assert.Equal(HealthStatus.Healthy, (await CheckAsync(host.Services)).Status);

            // Behind the library's back: the lease is revoked (an operator, a compaction script, etcd itself).
            using (var plain = new EtcdClient(SharedEtcd.First(endpoints)))
            {
                await plain.LeaseRevokeAsync(new LeaseRevokeRequest { ID = handle.LeaseId });
            }

            var sw = Stopwatch.StartNew();
            while (!handle.IsLost && sw.Elapsed < TimeSpan.FromSeconds(15))
            {
                await Task.Delay(50);
            }

            Assert.True(handle.IsLost, "the revoked hold was not reported lost");
        }

        HealthReportEntry entry = await CheckAsync(host.Services);
        for (int i = 0; i < 40 && entry.Status != HealthStatus.Degraded; i++)
        {
            // The counter is added right after the loss is marked: allow it a moment.
            await Task.Delay(50);
            entry = await CheckAsync(host.Services);
        }

        Assert.Equal(HealthStatus.Degraded, entry.Status);
        Assert.Equal(1, (int)entry.Data["holdsLostInWindow"]);
        Assert.True(entry.Data.ContainsKey("lastHoldLostAt"));
        Assert.Contains("lost in the last 5 min", entry.Description);
        Assert.Equal(HealthStatus.Healthy, (await CheckAsync(other)).Status);

        clock.Advance(TimeSpan.FromMinutes(4));
        Assert.Equal(HealthStatus.Degraded, (await CheckAsync(host.Services)).Status);
        clock.Advance(TimeSpan.FromMinutes(1.5));
        entry = await CheckAsync(host.Services);
        Assert.Equal(HealthStatus.Healthy, entry.Status);
        Assert.Equal(1L, (long)entry.Data["holdsLostTotal"]);

        await host.StopAsync();
    }

    [Fact]
    public void A_window_that_is_not_positive_is_refused() =>
        Assert.Throws<ArgumentOutOfRangeException>(() => new ServiceCollection().AddHealthChecks().AddEtcdLocks(degradedWindow: TimeSpan.Zero));

    private sealed class ManualClock(DateTimeOffset start) : TimeProvider
    {
        private DateTimeOffset _now = start;

        public override DateTimeOffset GetUtcNow() => _now;

        public void Advance(TimeSpan by) => _now += by;
    }
}
