using AttributeLock.Testing;

namespace AttributeLock.EndToEnd.Tests;

/// <summary>Generated wrappers over the in-memory test double behave as over etcd.</summary>
public sealed class InMemoryWrapperTests
{
    [Fact]
    public async Task LoseHold_reaches_the_caller_as_EtcdLockLostException_with_the_reason()
    {
        await using var locks = new InMemoryEtcdLockProvider();
        var service = new OrderService(locks);
        var entered = new TaskCompletionSource<EtcdLockHandle>();
        Task running = service.WaitUntilCancelledAsync(21, entered, CancellationToken.None);
        EtcdLockHandle handle = await entered.Task.WaitAsync(TimeSpan.FromSeconds(20));

        Assert.True(locks.LoseHold("/orders/21/slow", "lease expired in the test"));

        var ex = await Assert.ThrowsAsync<EtcdLockLostException>(() => running.WaitAsync(TimeSpan.FromSeconds(20)));
        Assert.Equal(handle.Key, ex.Key);
        Assert.Equal(handle.FencingToken, ex.FencingToken);
        Assert.Equal("lease expired in the test", ex.Reason);
    }

    [Fact]
    public async Task LoseHold_under_a_nested_call_reaches_the_outer_caller_as_one_EtcdLockLostException()
    {
        await using var locks = new InMemoryEtcdLockProvider();
        var service = new OrderService(locks);
        var entered = new TaskCompletionSource<EtcdLockHandle>();
        Task running = service.OuterWaitAsync(22, entered, CancellationToken.None);
        EtcdLockHandle nested = await entered.Task.WaitAsync(TimeSpan.FromSeconds(20));
        Assert.True(nested.IsNested);

        Assert.True(locks.LoseHold("/orders/22/nest", "gone"));

        var ex = await Assert.ThrowsAsync<EtcdLockLostException>(() => running.WaitAsync(TimeSpan.FromSeconds(20)));
        Assert.Equal("gone", ex.Reason);
        Assert.IsNotType<EtcdLockLostException>(ex.InnerException);
    }

    [Fact]
    public async Task Caller_cancellation_stays_an_OperationCanceledException_with_the_callers_token()
    {
        await using var locks = new InMemoryEtcdLockProvider();
        var service = new OrderService(locks);
        var entered = new TaskCompletionSource<EtcdLockHandle>();
        using var cts = new CancellationTokenSource();
        Task running = service.WaitUntilCancelledAsync(23, entered, cts.Token);
        await entered.Task.WaitAsync(TimeSpan.FromSeconds(20));

        cts.Cancel();

        var ex = await Assert.ThrowsAnyAsync<OperationCanceledException>(() => running.WaitAsync(TimeSpan.FromSeconds(20)));
        Assert.IsNotType<EtcdLockLostException>(ex);
        Assert.Equal(cts.Token, ex.CancellationToken);
        Assert.Empty(locks.Losses);
    }
}
