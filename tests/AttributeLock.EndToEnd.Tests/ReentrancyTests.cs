using System.Diagnostics;
using AttributeLock.EtcdFixture;
using dotnet_etcd;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace AttributeLock.EndToEnd.Tests;

/// <summary>
/// Reentrancy of generated wrappers (regression tests of the safety issue; each failed on 8eaaa2a): a nested handle
/// exists only while the outer hold is live, ends with it, and nested calls never run side by side.
/// </summary>
public sealed class ReentrancyTests : IAsyncLifetime
{
    private EtcdLockProvider _provider = null!;
    private EtcdLockProvider _other = null!;
    private string _endpoints = "";
    private readonly string _prefix = $"/reentrancy-{Guid.NewGuid():N}";

    public async Task InitializeAsync()
    {
        _endpoints = await SharedEtcd.GetEndpointsAsync();
        _provider = new EtcdLockProvider(new EtcdLockProviderOptions { Endpoints = { _endpoints }, KeyPrefix = _prefix });
        _other = new EtcdLockProvider(new EtcdLockProviderOptions { Endpoints = { _endpoints }, KeyPrefix = _prefix });
    }

    public async Task DisposeAsync()
    {
        await _provider.DisposeAsync();
        await _other.DisposeAsync();
    }

    private static async Task WaitUntil(Func<bool> condition, string what)
    {
        var sw = Stopwatch.StartNew();
        while (!condition())
        {
            Assert.True(sw.Elapsed < TimeSpan.FromSeconds(10), "not reached in 10 s: " + what);
            await Task.Delay(20);
        }
    }

    [Fact]
    public async Task A_task_started_inside_a_hold_loses_its_nested_handle_when_the_outer_hold_ends()
    {
        var service = new ReentrantService(_provider);
        var nestedInside = new TaskCompletionSource<EtcdLockHandle?>(TaskCreationOptions.RunContinuationsAsynchronously);
        var outerReleasedAndTaken = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        EtcdLockHandle? contextAfter = null;
        EtcdLockHandle? reacquired = null;
        Task? child = null;

        EtcdLockHandle? outer = await service.RunAsync(1, async _ =>
        {
            child = Task.Run(() => service.RunAsync(1, async nested =>
            {
                nestedInside.SetResult(nested);
                await outerReleasedAndTaken.Task;
                contextAfter = EtcdLockContext.Current;
                reacquired = await service.TryRunAsync(1, _ => Task.CompletedTask, CancellationToken.None);
            }, CancellationToken.None));
            await nestedInside.Task; // the outer body returns while its child is still inside
        }, CancellationToken.None);

        EtcdLockHandle nested = (await nestedInside.Task)!;
        Assert.True(nested.IsNested);
        Assert.Equal(outer!.FencingToken, nested.FencingToken);

        // The outer hold was released: the child's nested handle must say so, and its token fire.
        await WaitUntil(() => nested.LostToken.IsCancellationRequested, "the nested handle's LostToken fired");
        Assert.True(nested.IsLost);

        await using EtcdLockHandle theirs = await _other.AcquireAsync("/reentrant/1", new EtcdLockOptions { WaitTimeout = TimeSpan.FromSeconds(10) });
        outerReleasedAndTaken.SetResult();
        await child!.WaitAsync(TimeSpan.FromSeconds(20));
        Assert.Null(contextAfter);
        Assert.Null(reacquired); // busy elsewhere: not "re-acquired" as nested with no etcd call
    }

    [Fact]
    public async Task Tasks_started_inside_one_hold_never_run_nested_calls_side_by_side()
    {
        var service = new ReentrantService(_provider);
        int inside = 0;
        int maxInside = 0;
        int ran = 0;
        await service.RunAsync(2, async _ =>
        {
            var children = Enumerable.Range(0, 8).Select(_ => Task.Run(() => service.RunAsync(2, async nested =>
            {
                Assert.True(nested!.IsNested);
                int now = Interlocked.Increment(ref inside);
                int seen;
                while ((seen = Volatile.Read(ref maxInside)) < now && Interlocked.CompareExchange(ref maxInside, now, seen) != seen)
                {
                }

                await Task.Delay(40);
                Interlocked.Decrement(ref inside);
                Interlocked.Increment(ref ran);
            }, CancellationToken.None)));
            await Task.WhenAll(children).WaitAsync(TimeSpan.FromSeconds(30));
        }, CancellationToken.None);

        Assert.Equal(8, ran);
        Assert.Equal(1, maxInside);
    }

    [Fact]
    public async Task Releasing_the_wrappers_handle_from_another_flow_ends_nesting_for_the_body()
    {
        var service = new ReentrantService(_provider);
        EtcdLockHandle? nestedAfter = null;
        EtcdLockHandle? contextAfter = null;
        EtcdLockHandle? outerHandle = null;
        await service.RunAsync(3, async outer =>
        {
            outerHandle = outer;
            Task release;
            using (ExecutionContext.SuppressFlow())
            {
                release = Task.Run(async () => await outer!.DisposeAsync());
            }

            await release;
            await using EtcdLockHandle theirs = await _other.AcquireAsync("/reentrant/3", new EtcdLockOptions { WaitTimeout = TimeSpan.FromSeconds(10) });
            contextAfter = EtcdLockContext.Current;
            nestedAfter = await service.TryRunAsync(3, _ => Task.CompletedTask, CancellationToken.None);
            Assert.True(theirs.FencingToken > outer!.FencingToken);
        }, CancellationToken.None);

        Assert.Null(contextAfter);
        Assert.Null(nestedAfter); // the other process holds the key: no nested handle under a released hold
    }

    [Fact]
    public async Task Nested_calls_in_one_flow_still_work_and_the_context_is_the_innermost_call()
    {
        var service = new ReentrantService(_provider);
        EtcdLockHandle? innerSeen = null;
        EtcdLockHandle? outer = await service.RunAsync(4, async o =>
        {
            innerSeen = await service.RunAsync(4, inner =>
            {
                Assert.Same(inner, EtcdLockContext.Current);
                return Task.CompletedTask;
            }, CancellationToken.None);
            Assert.Same(o, EtcdLockContext.Current);
        }, CancellationToken.None);

        Assert.True(innerSeen!.IsNested);
        Assert.False(outer!.IsNested);
        Assert.Equal(outer.FencingToken, innerSeen.FencingToken);
        Assert.Null(EtcdLockContext.Current);
    }

    [Fact]
    public async Task Host_shutdown_with_a_body_still_running_cancels_the_body_and_frees_the_key()
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Services.AddEtcdLocks(o =>
        {
            o.Endpoints.Add(_endpoints);
            o.KeyPrefix = _prefix;
        });
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(1));
        builder.Services.AddSingleton<ReentrantService>();
        builder.Services.AddHostedService<StubbornWorker>();
        IHost host = builder.Build();
        await host.StartAsync();
        var worker = host.Services.GetServices<IHostedService>().OfType<StubbornWorker>().Single();
        EtcdLockHandle handle = await worker.Entered.Task.WaitAsync(TimeSpan.FromSeconds(20));

        await host.StopAsync(); // the body ignores the stopping token: still running after the shutdown timeout
        Assert.False(worker.BodyEnded.Task.IsCompleted);
        host.Dispose(); // disposes the provider: the body must be told, and the key freed

        await worker.BodyEnded.Task.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.True(handle.IsLost);
        await using EtcdLockHandle next = await _other.AcquireAsync("/reentrant/5", new EtcdLockOptions { WaitTimeout = TimeSpan.FromSeconds(10) });
        Assert.True(next.FencingToken > handle.FencingToken);
    }

    private sealed class StubbornWorker(ReentrantService service) : BackgroundService
    {
        public TaskCompletionSource<EtcdLockHandle> Entered { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public TaskCompletionSource BodyEnded { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        protected override Task ExecuteAsync(CancellationToken stoppingToken) =>
            // Deliberately not passing stoppingToken: a body that outlives the host's shutdown timeout.
            service.RunAsync(5, async h =>
            {
                Entered.SetResult(h!);
                try
                {
                    await Task.Delay(Timeout.Infinite, h!.LostToken);
                }
                finally
                {
                    BodyEnded.SetResult();
                }
            }, CancellationToken.None);
    }
}
