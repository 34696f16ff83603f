using AttributeLock.EtcdFixture;

namespace AttributeLock.Faults.Tests;

/// <summary>etcd's revisions rewound under a holder: a wiped data dir (or a restore from an older backup).</summary>
public sealed class DataDirRewindTests
{
    [Fact]
    public async Task A_fencing_token_repeated_after_the_data_dir_was_wiped_does_not_let_the_old_holder_write()
    {
        await using EtcdServer server = await EtcdServer.StartAsync();
        var options = new EtcdLockProviderOptions { Endpoints = { server.Endpoint }, ConnectTimeout = TimeSpan.FromSeconds(3), SpareLeases = false };
        await using var before = new EtcdLockProvider(options);
        // A long TTL: the old holder has not noticed anything yet when it writes.
        EtcdLockHandle stale = await before.AcquireAsync("/rewound", new EtcdLockOptions { TtlSeconds = 60 });

        await server.KillAsync();
        Directory.Delete(server.DataDir, recursive: true);
        await server.StartAgainAsync();

        await using var after = new EtcdLockProvider(options);
        await using EtcdLockHandle current = await after.AcquireAsync("/rewound", new EtcdLockOptions { TtlSeconds = 60 });
        // The premise: the same writes on a fresh store give the new holder the old holder's token.
        Assert.Equal(stale.FencingToken, current.FencingToken);

        var refused = await Assert.ThrowsAsync<EtcdLockNotHeldException>(() => stale.PutIfHeldAsync("/rewound-data", "stale"));
        Assert.Equal(current.FencingToken, refused.CurrentFencingToken);
        Assert.True(stale.IsLost);
        Assert.True(await current.PutIfHeldAsync("/rewound-data", "current") > current.FencingToken); // the holder's own writes land
        await stale.DisposeAsync();
    }
}
