using System.Diagnostics;
using AttributeLock.EtcdFixture;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace AttributeLock.EndToEnd.Tests;

/// <summary>
/// The generated semaphore, reader-writer and leader wrappers against a real etcd: exclusion counted by the bodies,
/// nesting of a read in a write, the refused upgrade, and a leader job in two real hosts handing over on stop.
/// </summary>
public sealed class CoordinationWrapperTests : IAsyncLifetime
{
    private EtcdLockProvider _a = null!;
    private EtcdLockProvider _b = null!;
    private string _endpoints = "";
    private readonly string _prefix = $"/coordination-{Guid.NewGuid():N}";

    public async Task InitializeAsync()
    {
        _endpoints = await SharedEtcd.GetEndpointsAsync();
        _a = new EtcdLockProvider(new EtcdLockProviderOptions { Endpoints = { _endpoints }, KeyPrefix = _prefix });
        _b = new EtcdLockProvider(new EtcdLockProviderOptions { Endpoints = { _endpoints }, KeyPrefix = _prefix });
    }

    public async Task DisposeAsync()
    {
        await _a.DisposeAsync();
        await _b.DisposeAsync();
    }

    [Fact]
    public async Task Semaphore_wrappers_of_two_providers_never_run_more_than_MaxCount_bodies()
    {
        var services = new[] { new CoordinationService(_a), new CoordinationService(_b) };
        int inside = 0, most = 0;
        string? ticketKey = null;
        await Task.WhenAll(Enumerable.Range(0, 8).Select(i => services[i % 2].TicketAsync("reports", async () =>
        {
            int now = Interlocked.Increment(ref inside);
            lock (services)
            {
                most = Math.Max(most, now);
                ticketKey ??= EtcdLockContext.Current?.Key;
            }

            await Task.Delay(100);
            Interlocked.Decrement(ref inside);
        }, CancellationToken.None)));
        Assert.InRange(most, 2, 2);
        Assert.StartsWith(_prefix + "/e2e-sem/reports/#sem/", ticketKey);
    }

    [Fact]
    public async Task A_read_nested_in_a_write_runs_under_it_and_a_write_nested_in_a_read_fails_at_once()
    {
        var service = new CoordinationService(_a);
        EtcdLockHandle? outer = null, inner = null;
        await service.WriteAsync("sku-1", async () =>
        {
            outer = EtcdLockContext.Current;
            await service.ReadAsync("sku-1", () =>
            {
                inner = EtcdLockContext.Current;
                return Task.CompletedTask;
            }, CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(10));
        }, CancellationToken.None);
        Assert.NotNull(inner);
        Assert.True(inner!.IsNested);
        Assert.Equal(outer!.FencingToken, inner.FencingToken);

        var ex = await Assert.ThrowsAsync<InvalidOperationException>(() => service.ReadAsync("sku-1",
            () => service.WriteAsync("sku-1", () => Task.CompletedTask, CancellationToken.None), CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.Contains("upgrade", ex.Message);

        // Readers of two providers side by side; a writer waits for both.
        var reading = new TaskCompletionSource();
        var release = new TaskCompletionSource();
        Task r1 = service.ReadAsync("sku-2", async () => { reading.TrySetResult(); await release.Task; }, CancellationToken.None);
        await reading.Task.WaitAsync(TimeSpan.FromSeconds(10));
        bool secondRan = false;
        await new CoordinationService(_b).ReadAsync("sku-2", () => { secondRan = true; return Task.CompletedTask; }, CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(10));
        Assert.True(secondRan);
        Task writer = new CoordinationService(_b).WriteAsync("sku-2", () => Task.CompletedTask, CancellationToken.None);
        await Task.Delay(300);
        Assert.False(writer.IsCompleted, "a writer waits for the reader");
        release.SetResult();
        await Task.WhenAll(r1, writer).WaitAsync(TimeSpan.FromSeconds(10));
    }

    [Fact]
    public async Task A_leader_job_runs_on_one_host_and_moves_when_that_host_stops()
    {
        string election = Guid.NewGuid().ToString("N");
        var journal = new LeaderJob.Journal();
        IHost Host(string name, EtcdLockProvider provider)
        {
            HostApplicationBuilder builder = Microsoft.Extensions.Hosting.Host.CreateApplicationBuilder();
            builder.Services.AddSingleton<IEtcdLockProvider>(provider);
            builder.Services.AddSingleton(journal);
            builder.Services.AddHostedService(sp => new LeaderJob(provider, journal) { Host = name, Election = election });
            return builder.Build();
        }

        using IHost first = Host("first", _a);
        using IHost second = Host("second", _b);
        await first.StartAsync();
        await WaitUntil(() => journal.Terms.Count == 1, "the first host leads");
        await second.StartAsync();
        await Task.Delay(500);
        Assert.Single(journal.Terms);
        Assert.Equal(EtcdElectionRole.Leader, EtcdLeadership.Roles(_a)["/e2e-leader/" + election]);
        Assert.Equal(EtcdElectionRole.Follower, EtcdLeadership.Roles(_b)["/e2e-leader/" + election]);

        var stopped = Stopwatch.StartNew();
        await first.StopAsync();
        await WaitUntil(() => journal.Terms.Count == 2, "the second host leads");
        Assert.True(stopped.Elapsed < TimeSpan.FromSeconds(4), $"the stopped host resigned: no wait for the TTL (5 s); took {stopped.Elapsed}");
        Assert.Equal("second", journal.Terms[1].Host);
        Assert.True(journal.Terms[1].Token > journal.Terms[0].Token);
        Assert.Equal(1, journal.MostInside);
        await second.StopAsync();
    }

    private static async Task WaitUntil(Func<bool> condition, string what)
    {
        var sw = Stopwatch.StartNew();
        while (!condition())
        {
            Assert.True(sw.Elapsed < TimeSpan.FromSeconds(15), "not reached in 15 s: " + what);
            await Task.Delay(20);
        }
    }
}
