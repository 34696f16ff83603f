namespace AttributeLock.EndToEnd.Tests;

/// <summary>Real attributed services, compiled with the generator.</summary>
public partial class OrderService(IEtcdLockProvider locks)
{
    private int _inside;
    private int _maxInside;

    public int MaxConcurrent => Volatile.Read(ref _maxInside);

    public Func<int, Task>? OnEnter { get; set; }

    [EtcdLock("/orders/<id>", Ttl = 5)]
    public partial Task ShipAsync(int id, CancellationToken ct);

    private async Task ShipAsyncCore(int id, CancellationToken ct)
    {
        int now = Interlocked.Increment(ref _inside);
        InterlockedMax(ref _maxInside, now);
        try
        {
            if (OnEnter is { } onEnter)
            {
                await onEnter(id);
            }

            await Task.Delay(30, ct);
        }
        finally
        {
            Interlocked.Decrement(ref _inside);
        }
    }

#pragma warning disable AL0019 // deliberately without a token: covers the generated code that passes none
    [EtcdLock("/orders/<id>/token", Ttl = 5)]
    public partial ValueTask<long> CurrentTokenAsync(int id);
#pragma warning restore AL0019

    private ValueTask<long> CurrentTokenAsyncCore(int id) =>
        ValueTask.FromResult(EtcdLockContext.Current?.FencingToken ?? -1);

    [EtcdLock("/orders/<id>/outer", Ttl = 5)]
    public partial Task<long> OuterAsync(int id, CancellationToken ct);

    private async Task<long> OuterAsyncCore(int id, CancellationToken ct) => await InnerAsync(id, ct);

    [EtcdLock("/orders/<id>/outer", Ttl = 5)]
    public partial Task<long> InnerAsync(int id, CancellationToken ct);

    private Task<long> InnerAsyncCore(int id, CancellationToken ct) =>
        Task.FromResult(EtcdLockContext.Current!.IsNested ? EtcdLockContext.Current.FencingToken : -1);

    [EtcdLock("/customers/<order.CustomerId>/<order.Id>", Ttl = 5)]
    public partial Task<string> KeyOfAsync(Order order, CancellationToken ct);

    private Task<string> KeyOfAsyncCore(Order order, CancellationToken ct) => Task.FromResult(EtcdLockContext.Current!.Key);

    [EtcdLock("/orders/<id>/slow", Ttl = 2)]
    public partial Task WaitUntilCancelledAsync(int id, TaskCompletionSource<EtcdLockHandle> entered, CancellationToken ct);

    private async Task WaitUntilCancelledAsyncCore(int id, TaskCompletionSource<EtcdLockHandle> entered, CancellationToken ct)
    {
        entered.SetResult(EtcdLockContext.Current!);
        await Task.Delay(Timeout.Infinite, ct);
    }

    [EtcdLock("/orders/<id>/nest", Ttl = 5)]
    public partial Task OuterWaitAsync(int id, TaskCompletionSource<EtcdLockHandle> entered, CancellationToken ct);

    private Task OuterWaitAsyncCore(int id, TaskCompletionSource<EtcdLockHandle> entered, CancellationToken ct) => InnerWaitAsync(id, entered, ct);

    [EtcdLock("/orders/<id>/nest", Ttl = 5)]
    public partial Task InnerWaitAsync(int id, TaskCompletionSource<EtcdLockHandle> entered, CancellationToken ct);

    private async Task InnerWaitAsyncCore(int id, TaskCompletionSource<EtcdLockHandle> entered, CancellationToken ct)
    {
        entered.SetResult(EtcdLockContext.Current!);
        await Task.Delay(Timeout.Infinite, ct);
    }

    private static void InterlockedMax(ref int target, int value)
    {
        int seen;
        while ((seen = Volatile.Read(ref target)) < value && Interlocked.CompareExchange(ref target, value, seen) != seen)
        {
        }
    }
}
