using AttributeLock.Engine.Session;

namespace AttributeLock.Tests;

/// <summary>The limit on requests in flight: never more than its size, every waiter served, first come first served.</summary>
public sealed class InFlightLimitTests
{
    [Fact]
    public async Task Never_more_than_the_limit_run_and_every_waiter_gets_its_turn()
    {
        var limit = new InFlightLimit(3);
        int running = 0, most = 0, done = 0;
        Task[] workers = Enumerable.Range(0, 8).Select(_ => Task.Run(async () =>
        {
            for (int i = 0; i < 500; i++)
            {
                await limit.EnterAsync();
                int now = Interlocked.Increment(ref running);
                int seen;
                while (now > (seen = Volatile.Read(ref most)) && Interlocked.CompareExchange(ref most, now, seen) != seen)
                {
                }

                if (i % 7 == 0)
                {
                    await Task.Yield();
                }

                Interlocked.Decrement(ref running);
                limit.Exit();
                Interlocked.Increment(ref done);
            }
        })).ToArray();
        await Task.WhenAll(workers).WaitAsync(TimeSpan.FromSeconds(60));
        Assert.Equal(4000, done);
        Assert.InRange(most, 1, 3);
        Assert.Equal(0, limit.Count);
    }

    [Fact]
    public void Waiters_are_served_in_the_order_they_came()
    {
        var limit = new InFlightLimit(1);
        Assert.True(limit.TryEnter(out _));
        Assert.False(limit.TryEnter(out Task second));
        Assert.False(limit.TryEnter(out Task third));
        limit.Exit();
        Assert.True(second.IsCompleted);
        Assert.False(third.IsCompleted);
        limit.Exit();
        Assert.True(third.IsCompleted);
        limit.Exit();
        Assert.Equal(0, limit.Count);
    }
}
