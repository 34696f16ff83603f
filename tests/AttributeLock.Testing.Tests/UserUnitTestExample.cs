using AttributeLock.Testing;

namespace AttributeLock.Testing.Tests;

/// <summary>The README's example: a user's unit test of a generated service, with no etcd.</summary>
public partial class OrderShipping(IEtcdLockProvider locks)
{
    public List<string> Shipped { get; } = new();

    [EtcdLock("/orders/<id>", Ttl = 5, WaitTimeoutMilliseconds = 100)]
    public partial Task ShipAsync(int id, CancellationToken ct);

    private async Task ShipAsyncCore(int id, CancellationToken ct)
    {
        await Task.Yield();
        ct.ThrowIfCancellationRequested();
        await EtcdLockContext.Current!.PutIfHeldAsync($"/shipments/{id}", "shipped", ct);
        Shipped.Add($"order {id}");
    }
}

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

/// <summary>The README's guarded read-modify-write.</summary>
public partial class PaymentCapture(IEtcdLockProvider locks)
{
    [EtcdLock("/orders/<orderId>", Ttl = 5)]
    public partial Task CaptureAsync(int orderId, CancellationToken ct);

    private async Task CaptureAsyncCore(int orderId, CancellationToken ct)
    {
        EtcdLockHandle hold = EtcdLockContext.Current!;
        string key = $"/payments/orders/{orderId}";
        long paid = long.Parse(await hold.GetAsync(key, ct) ?? "0", System.Globalization.CultureInfo.InvariantCulture);
        await hold.PutIfHeldAsync(key, (paid + 1).ToString(System.Globalization.CultureInfo.InvariantCulture), ct);
    }
}

public sealed class PaymentCaptureExample
{
    [Fact]
    public async Task Captures_with_a_read_modify_write_and_the_test_reads_what_was_stored()
    {
        await using var locks = new InMemoryEtcdLockProvider(new InMemoryEtcdLockProviderOptions { KeyPrefix = "/locks" });
        var service = new PaymentCapture(locks);

        await Task.WhenAll(Enumerable.Range(0, 5).Select(_ => service.CaptureAsync(42, CancellationToken.None)));

        Assert.Equal("5", locks.GetStoredValue("/payments/orders/42")); // a plain key: KeyPrefix is for lock keys only
        Assert.All(locks.Acquisitions, a => Assert.Equal("/locks/orders/42", a.Key));
    }
}
