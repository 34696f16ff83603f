using System.Runtime.CompilerServices;
using Etcdserverpb;
using Medallion.Threading;

namespace AttributeLock.DistributedLock.Tests;

/// <summary>HandleLostToken, dispose and abandonment of handles.</summary>
public sealed class HandleTests : DistributedLockTestBase
{
    private static readonly TimeSpan LostLimit = TimeSpan.FromSeconds(15);

    [Fact]
    public async Task HandleLostToken_fires_when_the_lease_is_revoked_behind_the_holders_back()
    {
        EtcdDistributedSynchronizationProvider provider = NewProvider(ttlSeconds: 3);
        EtcdDistributedLock @lock = provider.CreateLock(UniqueName("revoked"));
        await using EtcdDistributedLockHandle handle = await @lock.AcquireAsync();
        CancellationToken lost = handle.HandleLostToken;
        Assert.True(lost.CanBeCanceled);
        Assert.False(lost.IsCancellationRequested);

        await Client.LeaseRevokeAsync(new LeaseRevokeRequest { ID = handle.LeaseId });

        await AssertCancelledWithin(lost, LostLimit, "HandleLostToken after LeaseRevoke");
        Assert.True(handle.HandleLostToken.IsCancellationRequested);

        // The lock is free for others now.
        await using EtcdDistributedLockHandle? other = await NewProvider().CreateLock(@lock.Name).TryAcquireAsync(TimeSpan.FromSeconds(5));
        Assert.NotNull(other);
    }

    [Fact]
    public async Task HandleLostToken_fires_when_the_key_is_deleted_behind_the_holders_back()
    {
        EtcdDistributedSynchronizationProvider provider = NewProvider(ttlSeconds: 3);
        EtcdDistributedLock @lock = provider.CreateLock(UniqueName("deleted"));
        await using EtcdDistributedLockHandle handle = await @lock.AcquireAsync();
        CancellationToken lost = handle.HandleLostToken;

        DeleteRangeResponse deleted = await Client.DeleteAsync(handle.Key);
        Assert.Equal(1, deleted.Deleted);

        await AssertCancelledWithin(lost, LostLimit, "HandleLostToken after the key was deleted");
    }

    [Fact]
    public async Task HandleLostToken_fires_when_the_provider_owning_the_engine_is_disposed()
    {
        var provider = new EtcdDistributedSynchronizationProvider(EngineOptions(), new EtcdDistributedLockOptions { TtlSeconds = 3 });
        EtcdDistributedLockHandle handle = await provider.CreateLock(UniqueName("provider-disposed")).AcquireAsync();
        CancellationToken lost = handle.HandleLostToken;

        await provider.DisposeAsync();

        await AssertCancelledWithin(lost, LostLimit, "HandleLostToken after the provider was disposed");
        await handle.DisposeAsync(); // never throws
    }

    [Fact]
    public async Task A_normal_release_does_not_fire_HandleLostToken_and_a_disposed_handle_throws_ObjectDisposedException()
    {
        string name = UniqueName("disposed");
        EtcdDistributedLock @lock = NewProvider(ttlSeconds: 3).CreateLock(name);
        EtcdDistributedLockHandle handle = await @lock.AcquireAsync();
        CancellationToken lost = handle.HandleLostToken;

        await handle.DisposeAsync();
        await Task.Delay(TimeSpan.FromSeconds(1.5));
        Assert.False(lost.IsCancellationRequested, "a normal release is not a lost hold");

        // As DistributedLock's own handles do.
        Assert.Throws<ObjectDisposedException>(() => handle.HandleLostToken);
        Assert.Throws<ObjectDisposedException>(() => ((IDistributedSynchronizationHandle)handle).HandleLostToken);
        Assert.Throws<ObjectDisposedException>(() => handle.FencingToken);
        Assert.Throws<ObjectDisposedException>(() => handle.LeaseId);
        Assert.Throws<ObjectDisposedException>(() => handle.Key);

        // Dispose is idempotent, sync or async, also once another holder has the lock.
        await using EtcdDistributedLockHandle? next = await NewProvider().CreateLock(name).TryAcquireAsync(TimeSpan.FromSeconds(5));
        Assert.NotNull(next);
        handle.Dispose();
        await handle.DisposeAsync();
        Assert.Null(await NewProvider().CreateLock(name).TryAcquireAsync());
    }

    [Fact]
    public async Task Sync_dispose_releases_the_lock()
    {
        string name = UniqueName("sync-dispose");
        IDistributedLock @lock = NewProvider().CreateLock(name);
        IDistributedSynchronizationHandle handle = @lock.Acquire();
        IDistributedLock other = NewProvider().CreateLock(name);
        Assert.Null(other.TryAcquire());
        handle.Dispose();
        using IDistributedSynchronizationHandle? next = other.TryAcquire();
        Assert.NotNull(next);
        Assert.Throws<ObjectDisposedException>(() => handle.HandleLostToken);
        await Task.CompletedTask;
    }

    [Fact]
    public async Task An_abandoned_handle_is_released_after_it_is_garbage_collected()
    {
        const int ttl = 3;
        string name = UniqueName("abandoned");
        EtcdDistributedSynchronizationProvider provider = NewProvider(ttlSeconds: ttl);

        // Acquired on another flow, whose execution context is gone once it ends; the handle is dropped.
        WeakReference dropped = await Task.Run(() => AcquireAndDrop(provider, name));

        EtcdDistributedLock other = NewProvider().CreateLock(name);
        Assert.Null(await other.TryAcquireAsync()); // held, and renewed, as long as nothing collects the handle

        // Collect, then the lock must be free within the lease's TTL (plus the time etcd takes to expire a lease).
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
        Assert.False(dropped.IsAlive, "nothing of this library may keep an abandoned handle alive");
        var limit = TimeSpan.FromSeconds(ttl + 5);
        var since = System.Diagnostics.Stopwatch.StartNew();
        EtcdDistributedLockHandle? taken = null;
        while (taken is null && since.Elapsed < limit)
        {
            GC.Collect();
            GC.WaitForPendingFinalizers();
            taken = await other.TryAcquireAsync();
            if (taken is null)
            {
                await Task.Delay(250);
            }
        }

        Assert.True(taken is not null, $"the abandoned lock was still held {limit.TotalSeconds} s after its handle was collected");
        await taken.DisposeAsync();
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static WeakReference AcquireAndDrop(EtcdDistributedSynchronizationProvider provider, string name)
    {
        IDistributedSynchronizationHandle handle = provider.CreateLock(name).Acquire(TimeSpan.FromSeconds(10));
        Assert.False(handle.HandleLostToken.IsCancellationRequested);
        return new WeakReference(handle);
    }
}
