namespace AttributeLock.Testing.Tests;

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
