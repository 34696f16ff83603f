using System.Diagnostics;
using Etcdserverpb;

namespace AttributeLock.Tests;

public sealed class CrossProcessTests : EtcdTestBase
{
    [Fact]
    public async Task Two_processes_with_eight_tasks_each_never_lose_an_increment()
    {
        const int tasks = 8, iterations = 12;
        string lockKey = UniqueKey("counter-lock");
        string counterKey = "/attributelock-tests" + UniqueKey("counter");
        string endpoint = AttributeLock.EtcdFixture.SharedEtcd.First(Endpoints);

        using Process a = Worker.Start("counter", endpoint, lockKey, counterKey, $"{tasks}", $"{iterations}");
        using Process b = Worker.Start("counter", endpoint, lockKey, counterKey, $"{tasks}", $"{iterations}");
        Task<string> outA = a.StandardOutput.ReadToEndAsync(), outB = b.StandardOutput.ReadToEndAsync();
        Task<string> errA = a.StandardError.ReadToEndAsync(), errB = b.StandardError.ReadToEndAsync();
        using var limit = new CancellationTokenSource(TimeSpan.FromMinutes(3));
        await Task.WhenAll(a.WaitForExitAsync(limit.Token), b.WaitForExitAsync(limit.Token));

        Assert.True(a.ExitCode == 0, $"worker A failed: {await outA} {await errA}");
        Assert.True(b.ExitCode == 0, $"worker B failed: {await outB} {await errB}");
        Assert.Contains($"DONE {tasks * iterations}", await outA);
        Assert.Contains($"DONE {tasks * iterations}", await outB);
        RangeResponse counter = await Client.GetAsync(counterKey);
        Assert.Equal((2 * tasks * iterations).ToString(), counter.Kvs[0].Value.ToStringUtf8());
    }

    [Fact]
    public async Task A_LostToken_callback_that_throws_does_not_crash_the_process()
    {
        await using var server = await AttributeLock.EtcdFixture.EtcdServer.StartAsync();
        using Process worker = Worker.Start("throwing-callback", server.Endpoint, "/throwing-callback");
        string? line = await worker.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(60));
        Assert.Equal("ARMED", line);
        server.Pause(); // no renewal is answered: the hold's deadline passes and its LostToken fires
        try
        {
            Assert.True(await Task.Run(() => worker.WaitForExit(30_000)), "the worker neither crashed nor finished");
        }
        finally
        {
            server.Resume();
        }

        string rest = await worker.StandardOutput.ReadToEndAsync();
        string errors = await worker.StandardError.ReadToEndAsync();
        Assert.True(worker.ExitCode == 0, $"worker exit code {worker.ExitCode}: {rest} {errors}");
        Assert.Contains("ALIVE lost=True", rest);
    }

    [Fact]
    public async Task Holder_killed_with_SIGKILL_frees_the_lock_after_its_ttl()
    {
        string key = UniqueKey("killed");
        string endpoint = AttributeLock.EtcdFixture.SharedEtcd.First(Endpoints);
        using Process holder = Worker.Start("hold", endpoint, "/attributelock-tests" + key, "2");
        string? line = await holder.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromMinutes(1));
        Assert.NotNull(line);
        Assert.StartsWith("ACQUIRED ", line);
        long killedToken = long.Parse(line!.Split(' ')[2]);

        var provider = NewProvider(o => o.KeyPrefix = "");
        Assert.Null(await provider.TryAcquireAsync("/attributelock-tests" + key));

        holder.Kill(); // SIGKILL on Linux: no release, no revoke.
        await holder.WaitForExitAsync();
        var sw = Stopwatch.StartNew();
        await using EtcdLockHandle next = await provider.AcquireAsync("/attributelock-tests" + key, new EtcdLockOptions { WaitTimeout = TimeSpan.FromSeconds(30) });
        Assert.True(next.FencingToken > killedToken);
        // The lease had up to its TTL (2 s) left; the lock cannot have come free much before that.
        Assert.True(sw.Elapsed > TimeSpan.FromMilliseconds(500), $"freed after {sw.ElapsedMilliseconds} ms: before the lease could expire?");
    }
}

[CollectionDefinition(nameof(LeaseCountingCollection), DisableParallelization = true)]
public sealed class LeaseCountingCollection
{
}

/// <summary>Compares etcd's lease count before and after; runs alone so other tests' leases do not interfere.</summary>
[Collection(nameof(LeaseCountingCollection))]
public sealed class TimeoutAndCancellationTests : EtcdTestBase
{
    [Fact]
    public async Task Timeout_throws_naming_key_holder_and_wait_and_leaves_no_lease()
    {
        var holderProvider = NewProvider();
        var waiterProvider = NewProvider();
        string key = UniqueKey("timeout");
        await using EtcdLockHandle held = await holderProvider.AcquireAsync(key);
        HashSet<long> before = await LeaseIdsAsync();

        var ex = await Assert.ThrowsAsync<EtcdLockTimeoutException>(async () =>
            await waiterProvider.AcquireAsync(key, new EtcdLockOptions { WaitTimeout = TimeSpan.FromMilliseconds(700) }));

        Assert.Equal(held.Key, ex.Key);
        Assert.Contains(held.Key, ex.Message);
        Assert.Contains(holderProvider.HolderId, ex.Message);
        Assert.Contains($"{ex.Waited.TotalMilliseconds:F0} ms", ex.Message);
        // Revoked behind the caller's back (the caller is not kept waiting for etcd), within moments.
        await Eventually(async () => (await LeasesLeftAsync(before, holderProvider, waiterProvider)).Count == 0, TimeSpan.FromSeconds(10), "the attempt's lease revoked (the providers' spares aside)");
        Assert.Equal(0, waiterProvider.KeptLeaseCountExcludingSpares);
    }

    [Fact]
    public async Task Cancellation_throws_OperationCanceled_and_leaves_no_lease()
    {
        var holderProvider = NewProvider();
        var waiterProvider = NewProvider();
        string key = UniqueKey("cancel");
        await using EtcdLockHandle held = await holderProvider.AcquireAsync(key);
        HashSet<long> before = await LeaseIdsAsync();
        using var cts = new CancellationTokenSource(TimeSpan.FromMilliseconds(500));

        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => await waiterProvider.AcquireAsync(key, cancellationToken: cts.Token));

        // Revoked behind the caller's back (the caller is not kept waiting for etcd), within moments.
        await Eventually(async () => (await LeasesLeftAsync(before, holderProvider, waiterProvider)).Count == 0, TimeSpan.FromSeconds(10), "the attempt's lease revoked (the providers' spares aside)");
        Assert.Equal(0, waiterProvider.KeptLeaseCountExcludingSpares);
    }

    [Fact]
    public async Task Single_attempt_when_busy_leaves_no_lease()
    {
        var holderProvider = NewProvider();
        var other = NewProvider();
        string key = UniqueKey("single");
        await using EtcdLockHandle held = await holderProvider.AcquireAsync(key);
        HashSet<long> before = await LeaseIdsAsync();

        Assert.Null(await other.TryAcquireAsync(key));
        await Assert.ThrowsAsync<EtcdLockTimeoutException>(async () => await other.AcquireAsync(key, new EtcdLockOptions { WaitTimeout = TimeSpan.Zero }));

        // Revoked behind the caller's back (the caller is not kept waiting for etcd), within moments.
        await Eventually(async () => (await LeasesLeftAsync(before, holderProvider, other)).Count == 0, TimeSpan.FromSeconds(10), "the attempt's lease revoked (the providers' spares aside)");
    }
}

/// <summary>Uses its own etcd so it can restart it.</summary>
public sealed class EtcdRestartTests
{
    [Fact]
    public async Task Waiter_survives_an_etcd_restart_and_gets_the_lock_after_release()
    {
        await using var server = await AttributeLock.EtcdFixture.EtcdServer.StartAsync();
        var options = new EtcdLockProviderOptions { Endpoints = { server.Endpoint } };
        await using var holderProvider = new EtcdLockProvider(options);
        await using var waiterProvider = new EtcdLockProvider(options) { WatchRecheckInterval = TimeSpan.FromSeconds(2) };

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
