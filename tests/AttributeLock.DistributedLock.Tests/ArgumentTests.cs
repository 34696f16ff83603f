using Medallion.Threading;

namespace AttributeLock.DistributedLock.Tests;

/// <summary>DistributedLock's argument rules: invalid timeouts throw synchronously, before any I/O.</summary>
public sealed class ArgumentTests : DistributedLockTestBase
{
    public static TheoryData<long> InvalidMilliseconds => new() { -2, -2000, long.MinValue / 10_000, (long)int.MaxValue + 1, (long)int.MaxValue * 1000 };

    [Theory]
    [MemberData(nameof(InvalidMilliseconds))]
    public void Invalid_timeouts_throw_ArgumentOutOfRangeException_synchronously_before_any_io(long milliseconds)
    {
        // An engine whose endpoint does not answer: any request would fail (or hang) instead of throwing at once.
        using var provider = new EtcdDistributedSynchronizationProvider(new EtcdLockProviderOptions { Endpoints = { "http://127.0.0.1:1" } });
        EtcdDistributedLock @lock = provider.CreateLock("arguments");
        IDistributedLock asInterface = @lock;
        TimeSpan timeout = TimeSpan.FromMilliseconds(milliseconds);

        Assert.Throws<ArgumentOutOfRangeException>("timeout", () => @lock.Acquire(timeout));
        Assert.Throws<ArgumentOutOfRangeException>("timeout", () => @lock.TryAcquire(timeout));
        Assert.Throws<ArgumentOutOfRangeException>("timeout", () => { _ = @lock.AcquireAsync(timeout); });
        Assert.Throws<ArgumentOutOfRangeException>("timeout", () => { _ = @lock.TryAcquireAsync(timeout); });
        Assert.Throws<ArgumentOutOfRangeException>("timeout", () => asInterface.Acquire(timeout));
        Assert.Throws<ArgumentOutOfRangeException>("timeout", () => asInterface.TryAcquire(timeout));
        Assert.Throws<ArgumentOutOfRangeException>("timeout", () => { _ = asInterface.AcquireAsync(timeout); });
        Assert.Throws<ArgumentOutOfRangeException>("timeout", () => { _ = asInterface.TryAcquireAsync(timeout); });
        Assert.Throws<ArgumentOutOfRangeException>("timeout", () => { _ = ((IDistributedLockProvider)provider).AcquireLockAsync("arguments", timeout); });
    }

    [Fact]
    public async Task Infinite_zero_and_the_largest_timeouts_are_accepted()
    {
        EtcdDistributedLock @lock = NewProvider().CreateLock(UniqueName("valid-timeouts"));
        TimeSpan[] valid = [Timeout.InfiniteTimeSpan, TimeSpan.FromMilliseconds(-1), TimeSpan.Zero, TimeSpan.FromMilliseconds(int.MaxValue), TimeSpan.FromMilliseconds(0.5)];
        foreach (TimeSpan timeout in valid)
        {
            await using (EtcdDistributedLockHandle? handle = await @lock.TryAcquireAsync(timeout))
            {
                Assert.NotNull(handle);
            }

            await using (EtcdDistributedLockHandle handle = await @lock.AcquireAsync(timeout))
            {
                Assert.NotNull(handle);
            }

            using (EtcdDistributedLockHandle? handle = @lock.TryAcquire(timeout))
            {
                Assert.NotNull(handle);
            }
        }

        using EtcdDistributedLockHandle noTimeout = @lock.Acquire(null);
        Assert.NotNull(noTimeout);
    }
}
