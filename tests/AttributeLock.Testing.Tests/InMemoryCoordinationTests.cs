using Microsoft.Extensions.Time.Testing;

namespace AttributeLock.Testing.Tests;

/// <summary>What only the double offers for semaphores, RW locks and elections: holders elsewhere, losses, records, fake clocks.</summary>
public sealed class InMemoryCoordinationTests
{
    private static readonly TimeSpan RealLimit = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task A_semaphore_full_elsewhere_times_out_on_the_fake_clock_naming_the_holder()
    {
        var clock = new FakeTimeProvider();
        await using var locks = new InMemoryEtcdLockProvider(new InMemoryEtcdLockProviderOptions { TimeProvider = clock });
        using IDisposable one = locks.HoldSemaphoreElsewhere("/exports", 2, "worker-2");
        using IDisposable two = locks.HoldSemaphoreElsewhere("/exports", 2, "worker-3");

        Task<EtcdLockHandle> waiting = locks.AcquireSemaphoreAsync("/exports", 2, new EtcdLockOptions { WaitTimeout = TimeSpan.FromMinutes(5) }).AsTask();
        clock.Advance(TimeSpan.FromMinutes(5));
        var ex = await Assert.ThrowsAsync<EtcdLockTimeoutException>(() => waiting.WaitAsync(RealLimit));
        Assert.Equal("worker-2", ex.Holder);
        Assert.Equal("/exports", ex.Key);
        LockAcquisition record = Assert.Single(locks.Acquisitions);
        Assert.Equal((LockAcquisitionKind.Semaphore, LockAcquisitionOutcome.Busy), (record.Kind, record.Outcome));

        Assert.Throws<InvalidOperationException>(() => locks.HoldSemaphoreElsewhere("/exports", 3));
        two.Dispose();
        await using EtcdLockHandle? place = await locks.TryAcquireSemaphoreAsync("/exports", 2);
        Assert.NotNull(place);
        Assert.Equal(LockAcquisitionKind.Semaphore, locks.Acquisitions[^1].Kind);
    }

    [Fact]
    public async Task Readers_and_writers_elsewhere_take_their_turn_in_line()
    {
        await using var locks = new InMemoryEtcdLockProvider();
        IDisposable readerElsewhere = locks.HoldReadLockElsewhere("/catalog");
        await using (EtcdLockHandle? reader = await locks.TryAcquireReadLockAsync("/catalog"))
        {
            Assert.NotNull(reader);
        }

        IDisposable writerElsewhere = locks.HoldWriteLockElsewhere("/catalog", "importer"); // waits behind the reader elsewhere
        var ex = await Assert.ThrowsAsync<EtcdLockTimeoutException>(async () =>
            await locks.AcquireReadLockAsync("/catalog", new EtcdLockOptions { WaitTimeout = TimeSpan.FromMilliseconds(50) }));
        Assert.Equal("importer", ex.Holder);

        readerElsewhere.Dispose(); // the writer elsewhere writes now
        Assert.Null(await locks.TryAcquireReadLockAsync("/catalog"));
        writerElsewhere.Dispose();
        await using EtcdLockHandle? after = await locks.TryAcquireWriteLockAsync("/catalog");
        Assert.NotNull(after);
    }

    [Fact]
    public async Task A_candidate_elsewhere_leads_until_it_resigns_and_observers_see_each_change()
    {
        await using var locks = new InMemoryEtcdLockProvider(new InMemoryEtcdLockProviderOptions { KeyPrefix = "/app", HolderId = "this-test" });
        using var stop = new CancellationTokenSource();
        await using IAsyncEnumerator<EtcdLeaderInfo?> seen = locks.ObserveLeaderAsync("/scheduler", stop.Token).GetAsyncEnumerator();
        Assert.True(await seen.MoveNextAsync());
        Assert.Null(seen.Current);

        IDisposable other = locks.CampaignElsewhere("/scheduler", "node-b");
        Assert.True(await seen.MoveNextAsync().AsTask().WaitAsync(RealLimit));
        Assert.Equal("node-b", seen.Current?.Holder);
        Assert.StartsWith("/app/scheduler/#leader/", seen.Current?.Key);

        Task<EtcdLockHandle> campaign = locks.CampaignAsync("/scheduler").AsTask();
        other.Dispose();
        await using EtcdLockHandle leading = await campaign.WaitAsync(RealLimit);
        Assert.True(await seen.MoveNextAsync().AsTask().WaitAsync(RealLimit));
        Assert.Equal(new EtcdLeaderInfo(leading.Key, "this-test", leading.FencingToken, leading.LeaseId), seen.Current);
        Assert.Equal(seen.Current, await locks.GetLeaderAsync("/scheduler"));
        Assert.Equal(LockAcquisitionKind.Campaign, Assert.Single(locks.Acquisitions).Kind);

        stop.Cancel();
        Assert.False(await seen.MoveNextAsync().AsTask().WaitAsync(RealLimit));
    }

    [Fact]
    public async Task LoseHoldOf_loses_any_kind_of_hold_once_and_only_of_this_provider()
    {
        await using var locks = new InMemoryEtcdLockProvider();
        await using var other = new InMemoryEtcdLockProvider();
        await using EtcdLockHandle writer = await locks.AcquireWriteLockAsync("/w");
        await using EtcdLockHandle plain = await locks.AcquireAsync("/plain");
        await using EtcdLockHandle foreign = await other.AcquireReadLockAsync("/w");

        Assert.True(locks.LoseHoldOf(writer, "lease expired"));
        Assert.False(locks.LoseHoldOf(writer));
        Assert.False(locks.LoseHoldOf(foreign));
        Assert.True(locks.LoseHoldOf(plain));
        Assert.True(writer.IsLost);
        var since = System.Diagnostics.Stopwatch.StartNew(); // a loss is reported on a thread of its own
        while (!locks.Losses.Any(l => l.EndsWith("lease expired", StringComparison.Ordinal)) && since.Elapsed < RealLimit)
        {
            await Task.Delay(10);
        }

        Assert.Contains(locks.Losses, l => l.EndsWith("lease expired", StringComparison.Ordinal));
        await using EtcdLockHandle? next = await locks.TryAcquireWriteLockAsync("/w");
        Assert.NotNull(next); // the lost writer's key is gone
        Assert.False(locks.IsHeld("/plain"));
    }

    [Fact]
    public async Task A_waiter_that_gave_up_just_as_it_was_admitted_passes_the_turn_on()
    {
        var clock = new FakeTimeProvider();
        await using var locks = new InMemoryEtcdLockProvider(new InMemoryEtcdLockProviderOptions { TimeProvider = clock });
        EtcdLockHandle held = await locks.AcquireSemaphoreAsync("/turn", 1);
        using var cts = new CancellationTokenSource();
        Task<EtcdLockHandle> giveUp = locks.AcquireSemaphoreAsync("/turn", 1, cancellationToken: cts.Token).AsTask();
        Task<EtcdLockHandle> patient = locks.AcquireSemaphoreAsync("/turn", 1).AsTask();

        cts.Cancel();
        await held.DisposeAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => giveUp.WaitAsync(RealLimit));
        await using EtcdLockHandle patientHeld = await patient.WaitAsync(RealLimit);
        Assert.False(patientHeld.IsLost);
    }
}
