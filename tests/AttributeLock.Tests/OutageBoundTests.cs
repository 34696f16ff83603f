using System.Diagnostics;
using AttributeLock.EtcdFixture;
using Microsoft.Extensions.Logging;

namespace AttributeLock.Tests;

/// <summary>
/// What a caller waits for, and what is logged, while etcd is paused (a SIGSTOP: connections stay open, nothing answers):
/// a first acquire fails within one <see cref="EtcdLockProviderOptions.ConnectTimeout"/>, releasing a hold already lost
/// does not wait for etcd, dispose is bounded by the connect timeout, and an outage is warned about once, not per call.
/// </summary>
public sealed class OutageBoundTests
{
    private static readonly TimeSpan ConnectTimeout = TimeSpan.FromSeconds(3);
    private static readonly TimeSpan Slack = TimeSpan.FromMilliseconds(750);

    private static EtcdLockProvider Provider(EtcdServer server, RecordingLogger log, bool spares) =>
        new(new EtcdLockProviderOptions { Endpoints = { server.Endpoint }, ConnectTimeout = ConnectTimeout, SpareLeases = spares }, log, null, null);

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task A_first_acquire_during_an_outage_fails_within_one_connect_timeout(bool spares)
    {
        await using var server = await EtcdServer.StartAsync();
        var log = new RecordingLogger();
        await using var provider = Provider(server, log, spares);
        await (await provider.AcquireAsync("/outage/warm-up")).DisposeAsync(); // connected; a spare is granted
        await Task.Delay(300);
        server.Pause();
        try
        {
            var sw = Stopwatch.StartNew();
            var ex = await Assert.ThrowsAsync<EtcdLockUnavailableException>(async () => await provider.AcquireAsync("/outage/first"));
            sw.Stop();
            Console.WriteLine($"FIGURE acquire failure (spares={spares}): {sw.Elapsed.TotalSeconds:0.00} s");
            Assert.True(ex.IsTransient);
            Assert.True(sw.Elapsed < ConnectTimeout + Slack, $"the acquire failed after {sw.Elapsed}, connect timeout {ConnectTimeout}");
        }
        finally
        {
            server.Resume();
        }
    }

    [Fact]
    public async Task A_slow_grant_and_a_transaction_that_meets_an_outage_share_one_connect_timeout()
    {
        await using var server = await EtcdServer.StartAsync();
        var log = new RecordingLogger();
        var interceptor = new SlowGrantInterceptor { GrantDelay = TimeSpan.FromSeconds(2), BeforeTxn = server.Pause };
        await using var provider = new EtcdLockProvider(
            new EtcdLockProviderOptions { Endpoints = { server.Endpoint }, ConnectTimeout = ConnectTimeout, SpareLeases = false }, log, null, [interceptor]);
        await (await provider.AcquireAsync("/outage/warm-up")).DisposeAsync();
        interceptor.Armed = true;
        try
        {
            var sw = Stopwatch.StartNew();
            var ex = await Assert.ThrowsAsync<EtcdLockUnavailableException>(async () => await provider.AcquireAsync("/outage/slow-grant"));
            sw.Stop();
            Console.WriteLine($"FIGURE acquire failure, grant answered after 2 s then etcd paused: {sw.Elapsed.TotalSeconds:0.00} s");
            Assert.Contains("lock transaction", ex.Message);
            Assert.True(sw.Elapsed < ConnectTimeout + Slack, $"the acquire failed after {sw.Elapsed}, connect timeout {ConnectTimeout}");
        }
        finally
        {
            interceptor.Armed = false;
            server.Resume();
        }

        // The transaction's outcome is unknown: its lease (which would hold the key) is still revoked, in the background.
        using var client = new dotnet_etcd.EtcdClient(server.Endpoint);
        var until = Stopwatch.StartNew();
        while ((await client.LeaseLeasesAsync(new Etcdserverpb.LeaseLeasesRequest())).Leases.Count > 0)
        {
            Assert.True(until.Elapsed < TimeSpan.FromSeconds(10), "the acquire's lease was not revoked after etcd came back");
            await Task.Delay(100);
        }

        Assert.Equal(0, (await client.GetAsync("/outage/slow-grant")).Count);
    }

    [Fact]
    public async Task Releasing_a_hold_lost_in_an_outage_does_not_wait_for_etcd()
    {
        await using var server = await EtcdServer.StartAsync();
        var log = new RecordingLogger();
        await using var provider = Provider(server, log, spares: false);
        EtcdLockHandle handle = await provider.AcquireAsync("/outage/lost", new EtcdLockOptions { TtlSeconds = 2 });
        server.Pause();
        try
        {
            await Task.Delay(Timeout.Infinite, handle.LostToken).WaitAsync(TimeSpan.FromSeconds(15)).ContinueWith(_ => { });
            Assert.True(handle.IsLost);
            var sw = Stopwatch.StartNew();
            await handle.DisposeAsync();
            sw.Stop();
            Console.WriteLine($"FIGURE release of a lost hold: {sw.Elapsed.TotalSeconds:0.00} s");
            Assert.True(sw.Elapsed < TimeSpan.FromMilliseconds(500), $"the release took {sw.Elapsed}");
        }
        finally
        {
            server.Resume();
        }
    }

    [Fact]
    public async Task Disposing_the_provider_during_an_outage_takes_at_most_the_connect_timeout()
    {
        await using var server = await EtcdServer.StartAsync();
        var log = new RecordingLogger();
        var provider = Provider(server, log, spares: true);
        EtcdLockHandle handle = await provider.AcquireAsync("/outage/dispose");
        await Task.Delay(300);
        server.Pause();
        try
        {
            var sw = Stopwatch.StartNew();
            await provider.DisposeAsync();
            sw.Stop();
            Console.WriteLine($"FIGURE dispose during an outage: {sw.Elapsed.TotalSeconds:0.00} s");
            Assert.True(handle.IsLost);
            Assert.True(sw.Elapsed < ConnectTimeout + Slack, $"dispose took {sw.Elapsed}, connect timeout {ConnectTimeout}");
        }
        finally
        {
            server.Resume();
        }
    }

    [Fact]
    public async Task Failed_acquires_during_an_outage_warn_once_without_stack_traces()
    {
        const int attempts = 3;
        await using var server = await EtcdServer.StartAsync();
        var log = new RecordingLogger();
        await using var provider = Provider(server, log, spares: true);
        await (await provider.AcquireAsync("/outage/warm-up")).DisposeAsync();
        await Task.Delay(300);
        server.Pause();
        try
        {
            for (int i = 0; i < attempts; i++)
            {
                await Assert.ThrowsAsync<EtcdLockUnavailableException>(async () => await provider.AcquireAsync($"/outage/acquire-{i}"));
            }

            await Task.Delay(ConnectTimeout + TimeSpan.FromSeconds(1)); // the background revokes' first answers (or timeouts)
            var warnings = log.AtLeast(LogLevel.Warning).ToList();
            Console.WriteLine($"FIGURE warnings for {attempts} failed acquires: {warnings.Count} ({warnings.Count(w => w.HasException)} with a stack trace)");
            Assert.True(warnings.Count <= 1, $"{warnings.Count} warnings: {string.Join(" | ", warnings.Select(w => w.Message))}");
            Assert.DoesNotContain(warnings, w => w.HasException);
        }
        finally
        {
            server.Resume();
        }
    }
}
