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
