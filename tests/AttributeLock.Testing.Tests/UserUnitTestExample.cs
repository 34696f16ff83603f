using AttributeLock.Testing;

namespace AttributeLock.Testing.Tests;

public sealed class UserUnitTestExample
{
    [Fact]
    public async Task Ships_under_the_order_lock_and_times_out_when_another_process_holds_it()
    {
        await using var locks = new InMemoryEtcdLockProvider();
        var service = new OrderShipping(locks);

        await service.ShipAsync(42, CancellationToken.None);
        Assert.Equal(["order 42"], service.Shipped);
        LockAcquisition acquired = Assert.Single(locks.Acquisitions);
        Assert.Equal("/orders/42", acquired.Key);
        Assert.Equal(LockAcquisitionOutcome.Acquired, acquired.Outcome);
        Assert.Equal(5, acquired.TtlSeconds);

        using (locks.HoldElsewhere("/orders/7", "worker-2"))
        {
            var ex = await Assert.ThrowsAsync<EtcdLockTimeoutException>(() => service.ShipAsync(7, CancellationToken.None));
            Assert.Equal("worker-2", ex.Holder);
        }

        Assert.DoesNotContain("order 7", service.Shipped);
    }
}
