using AttributeLock.EtcdFixture;
using dotnet_etcd;
using Etcdserverpb;

namespace AttributeLock.EndToEnd.Tests;

public sealed class GeneratedWrapperTests : IAsyncLifetime
{
    private EtcdLockProvider _provider = null!;
    private EtcdLockProvider _other = null!;
    private EtcdClient _client = null!;
    private readonly string _prefix = $"/e2e-{Guid.NewGuid():N}";

    public async Task InitializeAsync()
    {
        string endpoints = await SharedEtcd.GetEndpointsAsync();
        _provider = new EtcdLockProvider(new EtcdLockProviderOptions { Endpoints = { endpoints }, KeyPrefix = _prefix });
        _other = new EtcdLockProvider(new EtcdLockProviderOptions { Endpoints = { endpoints }, KeyPrefix = _prefix });
        _client = new EtcdClient(SharedEtcd.First(endpoints));
    }

    public async Task DisposeAsync()
    {
        await _provider.DisposeAsync();
        await _other.DisposeAsync();
        _client.Dispose();
    }

    [Fact]
    public async Task Same_id_serializes_across_two_service_instances_on_two_providers()
    {
        var a = new OrderService(_provider);
        var b = new OrderService(_other);
        int inside = 0, max = 0;
        Func<int, Task> enter = async _ =>
        {
            int now = Interlocked.Increment(ref inside);
            max = Math.Max(max, now);
            await Task.Delay(20);
            Interlocked.Decrement(ref inside);
        };
        a.OnEnter = enter;
        b.OnEnter = enter;

        await Task.WhenAll(Enumerable.Range(0, 6).Select(i => (i % 2 == 0 ? a : b).ShipAsync(7, CancellationToken.None)));

        Assert.Equal(1, max);
        Assert.Equal(1, a.MaxConcurrent);
    }

    [Fact]
    public async Task Different_ids_run_in_parallel()
    {
        var service = new OrderService(_provider);
        var entered1 = new TaskCompletionSource();
        var entered2 = new TaskCompletionSource();
        service.OnEnter = async id =>
        {
            (id == 1 ? entered1 : entered2).SetResult();
            // Each body waits until the other is inside too: only possible if they do not serialize.
            await (id == 1 ? entered2 : entered1).Task.WaitAsync(TimeSpan.FromSeconds(20));
        };

        await Task.WhenAll(service.ShipAsync(1, CancellationToken.None), service.ShipAsync(2, CancellationToken.None));

        Assert.Equal(2, service.MaxConcurrent);
    }

    [Fact]
    public async Task Body_reads_the_ambient_handle_and_nested_call_on_same_key_does_not_deadlock()
    {
        var service = new OrderService(_provider);
        long token = await service.CurrentTokenAsync(3);
        Assert.True(token > 0);

        long nestedToken = await service.OuterAsync(3, CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(20));
        Assert.True(nestedToken > 0, "the inner call ran with a nested handle of the outer hold");
    }

    [Fact]
    public async Task Member_path_placeholders_are_escaped_into_the_key()
    {
        var service = new OrderService(_provider);
        string key = await service.KeyOfAsync(new Order(5, "acme/eu"), CancellationToken.None);
        Assert.Equal($"{_prefix}/customers/acme%2Feu/5", key);

        var ex = await Assert.ThrowsAsync<ArgumentNullException>(() => service.KeyOfAsync(new Order(5, null!), CancellationToken.None));
        Assert.Equal("order.CustomerId", ex.ParamName);
    }

    [Fact]
    public async Task Skip_when_busy_returns_default_without_running_the_body()
    {
        var jobs = new NightlyJobs(_provider);
        Assert.Equal(1, await jobs.RunAsync(CancellationToken.None));

        await using (EtcdLockHandle held = await _other.AcquireAsync("/jobs/nightly"))
        {
            Assert.Equal(0, await jobs.RunAsync(CancellationToken.None));
        }

        Assert.Equal(1, jobs.Runs);
        Assert.Equal(2, await jobs.RunAsync(CancellationToken.None));
    }

    [Fact]
    public async Task Skip_when_busy_without_a_wait_timeout_skips_at_once_instead_of_running_after_the_holder()
    {
        var jobs = new NightlyJobs(_provider);
        Task<int> skipped;
        await using (EtcdLockHandle held = await _other.AcquireAsync("/jobs/hourly"))
        {
            skipped = jobs.HourlyAsync(CancellationToken.None);
            // One attempt: the call is over while the other node still holds the job's lock.
            Assert.Equal(0, await skipped.WaitAsync(TimeSpan.FromSeconds(10)));
        }

        Assert.Equal(0, jobs.Runs);
        Assert.Equal(1, await jobs.HourlyAsync(CancellationToken.None));
    }

    [Fact]
    public async Task Wait_timeout_throws_naming_the_key()
    {
        var jobs = new NightlyJobs(_provider);
        await using EtcdLockHandle held = await _other.AcquireAsync("/jobs/report");
        var ex = await Assert.ThrowsAsync<EtcdLockTimeoutException>(() => jobs.ReportAsync(CancellationToken.None));
        Assert.Equal($"{_prefix}/jobs/report", ex.Key);
        Assert.Contains(_other.HolderId, ex.Message);
    }

    [Fact]
    public async Task Body_sees_cancellation_when_the_lease_is_revoked_behind_it()
    {
        var service = new OrderService(_provider);
        var entered = new TaskCompletionSource<EtcdLockHandle>();
        Task running = service.WaitUntilCancelledAsync(9, entered, CancellationToken.None);
        EtcdLockHandle handle = await entered.Task.WaitAsync(TimeSpan.FromSeconds(20));

        await _client.LeaseRevokeAsync(new LeaseRevokeRequest { ID = handle.LeaseId });

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => running.WaitAsync(TimeSpan.FromSeconds(20)));
        Assert.True(handle.IsLost);
    }

    [Fact]
    public async Task Lost_hold_reaches_the_caller_as_EtcdLockLostException_with_key_fencing_token_and_reason()
    {
        var service = new OrderService(_provider);
        var entered = new TaskCompletionSource<EtcdLockHandle>();
        using var cts = new CancellationTokenSource();
        Task running = service.WaitUntilCancelledAsync(11, entered, cts.Token);
        EtcdLockHandle handle = await entered.Task.WaitAsync(TimeSpan.FromSeconds(20));

        await _client.LeaseRevokeAsync(new LeaseRevokeRequest { ID = handle.LeaseId });

        var ex = await Assert.ThrowsAsync<EtcdLockLostException>(() => running.WaitAsync(TimeSpan.FromSeconds(20)));
        Assert.Equal($"{_prefix}/orders/11/slow", ex.Key);
        Assert.Equal(handle.FencingToken, ex.FencingToken);
        Assert.False(string.IsNullOrEmpty(ex.Reason));
        Assert.Contains(ex.Reason!, ex.Message);
        Assert.NotEqual(cts.Token, ex.CancellationToken);
        Assert.IsAssignableFrom<OperationCanceledException>(ex.InnerException);
        Assert.True(running.IsCanceled, "a lost hold still ends the call as cancelled, as an OperationCanceledException does");
    }

    [Fact]
    public async Task Caller_cancellation_stays_an_OperationCanceledException_with_the_callers_token()
    {
        var service = new OrderService(_provider);
        var entered = new TaskCompletionSource<EtcdLockHandle>();
        using var cts = new CancellationTokenSource();
        Task running = service.WaitUntilCancelledAsync(12, entered, cts.Token);
        await entered.Task.WaitAsync(TimeSpan.FromSeconds(20));

        cts.Cancel();

        var ex = await Assert.ThrowsAnyAsync<OperationCanceledException>(() => running.WaitAsync(TimeSpan.FromSeconds(20)));
        Assert.IsNotType<EtcdLockLostException>(ex);
        Assert.Equal(cts.Token, ex.CancellationToken);
    }

    [Fact]
    public async Task Caller_cancellation_reaches_the_body()
    {
        var service = new OrderService(_provider);
        var entered = new TaskCompletionSource<EtcdLockHandle>();
        using var cts = new CancellationTokenSource();
        Task running = service.WaitUntilCancelledAsync(10, entered, cts.Token);
        EtcdLockHandle handle = await entered.Task.WaitAsync(TimeSpan.FromSeconds(20));
        cts.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => running.WaitAsync(TimeSpan.FromSeconds(20)));
        Assert.False(handle.IsLost);
        RangeResponse key = await _client.GetAsync(handle.Key);
        Assert.Empty(key.Kvs);
    }
}
