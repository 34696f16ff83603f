using Microsoft.Extensions.Time.Testing;

namespace AttributeLock.Testing.Tests;

/// <summary>The in-memory provider measures wait timeouts and minimum holds on the <see cref="TimeProvider"/> it is given.</summary>
public sealed class FakeClockTests
{
    private static readonly TimeSpan RealLimit = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task A_ten_minute_wait_timeout_ends_when_the_fake_clock_advances_without_real_waiting()
    {
        var clock = new FakeTimeProvider();
        await using var locks = new InMemoryEtcdLockProvider(new InMemoryEtcdLockProviderOptions { TimeProvider = clock });
        var service = new SlowSettlement(locks);
        using IDisposable elsewhere = locks.HoldElsewhere("/settlement/3", "worker-2");

        // No real wait before advancing: the timeout is on the fake clock from the call on (as the package README shows).
        Task settle = service.SettleAsync(3, CancellationToken.None);
        clock.Advance(TimeSpan.FromMinutes(9));
        await Task.Delay(50);
        Assert.False(settle.IsCompleted, "the wait ended before its timeout on the fake clock");

        clock.Advance(TimeSpan.FromMinutes(1));
        var ex = await Assert.ThrowsAsync<EtcdLockTimeoutException>(() => settle.WaitAsync(RealLimit));
        Assert.Equal("worker-2", ex.Holder);
        Assert.Equal(TimeSpan.FromMinutes(10), ex.Waited);
        Assert.Equal(LockAcquisitionOutcome.Busy, Assert.Single(locks.Acquisitions).Outcome);
    }

    [Fact]
    public async Task A_direct_acquire_times_out_on_the_fake_clock_and_a_release_before_it_still_hands_the_lock_over()
    {
        var clock = new FakeTimeProvider();
        await using var locks = new InMemoryEtcdLockProvider(new InMemoryEtcdLockProviderOptions { TimeProvider = clock });
        var tenMinutes = new EtcdLockOptions { WaitTimeout = TimeSpan.FromMinutes(10) };
        EtcdLockHandle first = await locks.AcquireAsync("/k", tenMinutes);

        Task<EtcdLockHandle> timesOut = locks.AcquireAsync("/k", tenMinutes).AsTask();
        clock.Advance(TimeSpan.FromMinutes(10));
        await Assert.ThrowsAsync<EtcdLockTimeoutException>(() => timesOut.WaitAsync(RealLimit));

        Task<EtcdLockHandle> getsIt = locks.AcquireAsync("/k", tenMinutes).AsTask();
        clock.Advance(TimeSpan.FromMinutes(5));
        await first.DisposeAsync();
        await using EtcdLockHandle second = await getsIt.WaitAsync(RealLimit);
        Assert.True(second.FencingToken > first.FencingToken);
    }

    [Fact]
    public async Task A_minimum_hold_frees_the_key_when_the_fake_clock_passes_it_counted_from_the_acquire()
    {
        var clock = new FakeTimeProvider();
        await using var locks = new InMemoryEtcdLockProvider(new InMemoryEtcdLockProviderOptions { TimeProvider = clock });
        EtcdLockHandle first = await locks.AcquireAsync("/jobs/nightly", new EtcdLockOptions { HoldAtLeast = TimeSpan.FromMinutes(5) });
        clock.Advance(TimeSpan.FromMinutes(2)); // the body ran two minutes
        await first.DisposeAsync();

        Assert.True(locks.IsHeld("/jobs/nightly"));
        Assert.Null(await locks.TryAcquireAsync("/jobs/nightly"));
        Task<EtcdLockHandle> waiter = locks.AcquireAsync("/jobs/nightly", new EtcdLockOptions { WaitTimeout = TimeSpan.FromMinutes(10) }).AsTask();
        clock.Advance(TimeSpan.FromMinutes(3) - TimeSpan.FromTicks(1));
        await Task.Delay(50);
        Assert.False(waiter.IsCompleted, "the key came free before the minimum, counted from the acquire, had passed");

        clock.Advance(TimeSpan.FromTicks(1));
        await using EtcdLockHandle next = await waiter.WaitAsync(RealLimit);
        Assert.True(next.FencingToken > first.FencingToken);
    }
}
