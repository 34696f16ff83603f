using dotnet_etcd;
using Etcdserverpb;
using Google.Protobuf;

namespace AttributeLock.Tests;

public sealed class GuardedWriteTests : ProviderTestBase
{
    [Fact]
    public async Task A_guarded_write_lands_while_held_and_is_refused_after_another_holder_took_the_key()
    {
        var provider = NewProvider();
        var other = NewProvider();
        string key = UniqueKey("guarded");
        string data = "/attributelock-tests/data" + key;
        EtcdLockHandle handle = await provider.AcquireAsync(key, new EtcdLockOptions { TtlSeconds = 5 });

        long revision = await handle.PutIfHeldAsync(data, "first");
        Assert.True(revision > handle.FencingToken);
        Assert.Equal("first", (await GetKeyAsync(data))!.Value.ToStringUtf8());

        // The lease is revoked behind the holder's back and another provider takes the key: a write must not land,
        // even if the holder has not noticed its loss yet.
        await Client.LeaseRevokeAsync(new LeaseRevokeRequest { ID = handle.LeaseId });
        await using EtcdLockHandle theirs = await other.AcquireAsync(key, new EtcdLockOptions { WaitTimeout = TimeSpan.FromSeconds(10) });
        var refused = await Assert.ThrowsAsync<EtcdLockNotHeldException>(() => handle.PutIfHeldAsync(data, "stale"));
        Assert.Equal(handle.Key, refused.Key);
        Assert.Equal(handle.FencingToken, refused.FencingToken);
        Assert.Equal(theirs.FencingToken, refused.CurrentFencingToken);
        Assert.Equal(other.HolderId, refused.CurrentHolder);
        Assert.Contains(other.HolderId, refused.Message);
        Assert.Equal("first", (await GetKeyAsync(data))!.Value.ToStringUtf8());
        Assert.True(handle.IsLost);
        await handle.DisposeAsync();
    }

    [Fact]
    public async Task A_guarded_write_after_the_key_was_deleted_is_refused_and_names_no_holder()
    {
        var provider = NewProvider();
        string key = UniqueKey("guarded-gone");
        string data = "/attributelock-tests/data" + key;
        await using EtcdLockHandle handle = await provider.AcquireAsync(key, new EtcdLockOptions { TtlSeconds = 5 });
        await Client.DeleteAsync(handle.Key);
        var refused = await Assert.ThrowsAsync<EtcdLockNotHeldException>(() => handle.WriteIfHeldAsync(
            [new RequestOp { RequestDeleteRange = new DeleteRangeRequest { Key = ByteString.CopyFromUtf8(data) } }]));
        Assert.Null(refused.CurrentFencingToken);
        Assert.Null(refused.CurrentHolder);
    }

    [Fact]
    public async Task The_ownership_comparison_guards_a_transaction_the_user_builds()
    {
        var provider = NewProvider();
        string key = UniqueKey("guarded-own-txn");
        string data = "/attributelock-tests/data" + key;
        EtcdLockHandle handle = await provider.AcquireAsync(key);

        TxnRequest Txn(string value)
        {
            var txn = new TxnRequest();
            txn.Compare.Add(handle.OwnershipComparison());
            txn.Success.Add(new RequestOp { RequestPut = new PutRequest { Key = ByteString.CopyFromUtf8(data), Value = ByteString.CopyFromUtf8(value) } });
            return txn;
        }

        Assert.True((await Client.TransactionAsync(Txn("held"))).Succeeded);
        await handle.DisposeAsync();
        Assert.False((await Client.TransactionAsync(Txn("released"))).Succeeded);
        Assert.Equal("held", (await GetKeyAsync(data))!.Value.ToStringUtf8());
    }

    [Fact]
    public async Task A_guarded_write_to_its_own_lock_key_is_refused_and_the_lock_still_frees()
    {
        var provider = NewProvider();
        var other = NewProvider();
        string key = UniqueKey("guarded-own-key");
        EtcdLockHandle handle = await provider.AcquireAsync(key, new EtcdLockOptions { TtlSeconds = 5 });

        var refused = await Assert.ThrowsAsync<ArgumentException>(() => handle.PutIfHeldAsync(handle.Key, "mine"));
        Assert.Contains(handle.Key, refused.Message);
        await Assert.ThrowsAsync<ArgumentException>(() => handle.WriteIfHeldAsync(
            [new RequestOp { RequestDeleteRange = new DeleteRangeRequest { Key = ByteString.CopyFromUtf8("/attributelock-tests/"), RangeEnd = ByteString.CopyFromUtf8("/attributelock-tests0") } }]));
        await using (EtcdLockHandle second = await provider.AcquireAsync(UniqueKey("guarded-second-lock")))
        {
            await Assert.ThrowsAsync<ArgumentException>(() => handle.PutIfHeldAsync(second.Key, "x"));
        }

        // Nothing was sent: the key is still on its lease, and the release frees it for the next holder at once.
        Mvccpb.KeyValue kv = (await GetKeyAsync(handle.Key))!;
        Assert.Equal(handle.LeaseId, kv.Lease);
        Assert.Equal(handle.FencingToken, kv.ModRevision);
        Assert.False(handle.IsLost);
        await handle.DisposeAsync();
        await using EtcdLockHandle? next = await other.TryAcquireAsync(key);
        Assert.NotNull(next);
    }

    [Fact]
    public async Task After_a_foreign_put_on_the_lock_key_guarded_writes_are_refused_and_the_release_frees_the_key()
    {
        var provider = NewProvider();
        var other = NewProvider();
        string key = UniqueKey("guarded-overwritten");
        string data = "/attributelock-tests/data" + key;
        EtcdLockHandle handle = await provider.AcquireAsync(key, new EtcdLockOptions { TtlSeconds = 5 });

        // A plain put keeps the key's create revision (the fencing token) but takes it off the hold's lease.
        await Client.PutAsync(handle.Key, "someone else");
        Assert.Equal(handle.FencingToken, (await GetKeyAsync(handle.Key))!.CreateRevision);

        var refused = await Assert.ThrowsAsync<EtcdLockNotHeldException>(() => handle.PutIfHeldAsync(data, "stale"));
        Assert.Equal(handle.FencingToken, refused.CurrentFencingToken);
        Assert.Contains("overwritten", refused.Message);
        Assert.Null(await GetKeyAsync(data));
        Assert.True(handle.IsLost);

        // Revoking the lease alone would leave the lease-less key forever; the release deletes it (still our incarnation).
        await handle.DisposeAsync();
        await Eventually(async () => await GetKeyAsync(handle.Key) is null, TimeSpan.FromSeconds(10), "the overwritten lock key deleted by the release");
        await using EtcdLockHandle? next = await other.TryAcquireAsync(key);
        Assert.NotNull(next);
    }

    [Fact]
    public async Task A_held_key_overwritten_in_place_is_reported_lost_and_freed_on_release()
    {
        var provider = NewProvider();
        string key = UniqueKey("overwritten-watch");
        EtcdLockHandle handle = await provider.AcquireAsync(key, new EtcdLockOptions { TtlSeconds = 3 });
        var lost = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using CancellationTokenRegistration registration = handle.LostToken.Register(() => lost.TrySetResult());
        await Client.PutAsync(handle.Key, "someone else");

        // Seen by the key's watch or its read at the next renewal (TTL/3), well before any deadline.
        Assert.Same(lost.Task, await Task.WhenAny(lost.Task, Task.Delay(TimeSpan.FromSeconds(20))));
        Assert.True(handle.IsLost);
        await handle.DisposeAsync();
        await Eventually(async () => await GetKeyAsync(handle.Key) is null, TimeSpan.FromSeconds(10), "the overwritten lock key deleted by the release");
    }
}
