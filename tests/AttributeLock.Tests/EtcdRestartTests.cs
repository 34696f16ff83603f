using AttributeLock.Engine.Session;
using Etcdserverpb;

namespace AttributeLock.Tests;

/// <summary>Uses its own etcd so it can restart it.</summary>
public sealed class EtcdRestartTests
{
    [Fact]
    public async Task Waiter_survives_an_etcd_restart_and_gets_the_lock_after_release()
    {
        await using var server = await AttributeLock.EtcdFixture.EtcdServer.StartAsync();
        var options = new EtcdLockProviderOptions { Endpoints = { server.Endpoint } };
        await using var holderProvider = new EtcdLockProvider(options);
        await using var waiterProvider = new EtcdLockProvider(options, null, null, null, s => s with { WatchRecheckInterval = TimeSpan.FromSeconds(2) });

        EtcdLockHandle held = await holderProvider.AcquireAsync("/restart", new EtcdLockOptions { TtlSeconds = 10 });
        Task<EtcdLockHandle> waiting = waiterProvider.AcquireAsync("/restart", new EtcdLockOptions { TtlSeconds = 10 }).AsTask();
        await Task.Delay(500);
        Assert.False(waiting.IsCompleted);

        await server.RestartAsync();
        await Task.Delay(1000);
        Assert.False(waiting.IsCompleted);
        await held.DisposeAsync();

        await using EtcdLockHandle got = await waiting.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.True(got.FencingToken > held.FencingToken);
    }

    [Fact]
    public async Task Waiter_rides_out_an_etcd_outage_longer_than_its_request_timeout_and_gets_the_lock_after_release()
    {
        // etcd stays down 4 s, four times the waiter's request timeout: every request of the waiter fails meanwhile.
        await using var server = await AttributeLock.EtcdFixture.EtcdServer.StartAsync();
        await using var holderProvider = new EtcdLockProvider(new EtcdLockProviderOptions { Endpoints = { server.Endpoint } });
        await using var waiterProvider = new EtcdLockProvider(new EtcdLockProviderOptions { Endpoints = { server.Endpoint }, ConnectTimeout = TimeSpan.FromSeconds(1) });

        EtcdLockHandle held = await holderProvider.AcquireAsync("/outage", new EtcdLockOptions { TtlSeconds = 30 });
        Task<EtcdLockHandle> waiting = waiterProvider.AcquireAsync("/outage", new EtcdLockOptions { TtlSeconds = 10, WaitTimeout = TimeSpan.FromMinutes(2) }).AsTask();
        await Task.Delay(500);
        Assert.False(waiting.IsCompleted);

        await server.RestartAsync(downtime: TimeSpan.FromSeconds(4));
        await Task.Delay(1000);
        Assert.False(waiting.IsCompleted, $"the waiter gave up during the outage: {waiting.Exception?.InnerException}");
        Assert.False(held.IsLost);
        await held.DisposeAsync();

        await using EtcdLockHandle got = await waiting.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.True(got.FencingToken > held.FencingToken);
    }

    [Fact]
    public async Task Waiter_whose_wait_ends_during_an_outage_hears_that_etcd_is_unavailable_not_that_the_key_is_busy()
    {
        await using var server = await AttributeLock.EtcdFixture.EtcdServer.StartAsync();
        await using var holderProvider = new EtcdLockProvider(new EtcdLockProviderOptions { Endpoints = { server.Endpoint } });
        await using var waiterProvider = new EtcdLockProvider(new EtcdLockProviderOptions { Endpoints = { server.Endpoint }, ConnectTimeout = TimeSpan.FromSeconds(1) });

        await using EtcdLockHandle held = await holderProvider.AcquireAsync("/outage", new EtcdLockOptions { TtlSeconds = 30 });
        Task<EtcdLockHandle?> waiting = waiterProvider.TryAcquireAsync("/outage", new EtcdLockOptions { TtlSeconds = 10, WaitTimeout = TimeSpan.FromSeconds(4) }).AsTask();
        await Task.Delay(500);
        await server.KillAsync();
        try
        {
            var ex = await Assert.ThrowsAsync<EtcdLockUnavailableException>(() => waiting.WaitAsync(TimeSpan.FromSeconds(30)));
            Assert.True(ex.IsTransient);
            Assert.Contains("/outage", ex.Message, StringComparison.Ordinal);
        }
        finally
        {
            await server.StartAgainAsync();
        }
    }
}
