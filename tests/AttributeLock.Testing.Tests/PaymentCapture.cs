namespace AttributeLock.Testing.Tests;

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
