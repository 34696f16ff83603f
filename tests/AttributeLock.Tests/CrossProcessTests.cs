using System.Diagnostics;
using Etcdserverpb;

namespace AttributeLock.Tests;

public sealed class CrossProcessTests : ProviderTestBase
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
