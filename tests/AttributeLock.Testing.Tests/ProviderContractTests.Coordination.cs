namespace AttributeLock.Testing.Tests;

// Semaphores, reader-writer locks and elections: the same contract for the double and the engine.
public abstract partial class ProviderContractTests
{
    private static readonly TimeSpan s_long = TimeSpan.FromSeconds(15);

    private static EtcdLockOptions Wait(TimeSpan wait) => new() { WaitTimeout = wait };

    private static EtcdLockOptions WaitLong => Wait(TimeSpan.FromSeconds(30));

    /// <summary>Gives waiters started just before time to put their tickets (the engine's put is a round trip).</summary>
    private static Task LetTicketsLandAsync() => Task.Delay(400);

    /// <summary>Asserts that <paramref name="waiter"/> is still waiting a little later.</summary>
    private static async Task AssertWaitingAsync(Task waiter)
    {
        await Task.Delay(300);
        Assert.False(waiter.IsCompleted, "the waiter should still wait");
    }

    [Fact]
    public async Task A_semaphore_never_admits_more_than_MaxCount_and_its_tickets_are_keys_under_it()
    {
        int inside = 0, maxInside = 0;
        var tokens = new System.Collections.Concurrent.ConcurrentBag<long>();
        var keys = new System.Collections.Concurrent.ConcurrentBag<string>();
        await Task.WhenAll(Enumerable.Range(0, 6).Select(_ => Task.Run(async () =>
        {
            for (int i = 0; i < 3; i++)
            {
                await using EtcdLockHandle h = await Provider.AcquireSemaphoreAsync("/sem-max", 2, WaitLong);
                tokens.Add(h.FencingToken);
                keys.Add(h.Key);
                int now = Interlocked.Increment(ref inside);
                lock (tokens)
                {
                    maxInside = Math.Max(maxInside, now);
                }

                await Task.Delay(10);
                Interlocked.Decrement(ref inside);
            }
        })));
        Assert.InRange(maxInside, 1, 2);
        Assert.Equal(18, tokens.Distinct().Count());
        Assert.All(keys, k => Assert.StartsWith(Prefix + "/sem-max/#sem/", k));
    }

    [Fact]
    public async Task A_semaphore_hands_its_places_out_first_come_first_served()
    {
        EtcdLockHandle a = await Provider.AcquireSemaphoreAsync("/sem-fifo", 2);
        EtcdLockHandle b = await Provider.AcquireSemaphoreAsync("/sem-fifo", 2);
        Task<EtcdLockHandle> c = Provider.AcquireSemaphoreAsync("/sem-fifo", 2, WaitLong).AsTask();
        await LetTicketsLandAsync();
        Task<EtcdLockHandle> d = Provider.AcquireSemaphoreAsync("/sem-fifo", 2, WaitLong).AsTask();
        await LetTicketsLandAsync();
        Assert.Null(await Provider.TryAcquireSemaphoreAsync("/sem-fifo", 2)); // full: a single attempt gives null
        await AssertWaitingAsync(c);

        await b.DisposeAsync(); // the place goes to the oldest waiter, c
        EtcdLockHandle cHeld = await c.WaitAsync(s_long);
        await AssertWaitingAsync(d);
        Assert.True(cHeld.FencingToken > b.FencingToken);

        await a.DisposeAsync();
        EtcdLockHandle dHeld = await d.WaitAsync(s_long);
        Assert.True(dHeld.FencingToken > cHeld.FencingToken);
        await cHeld.DisposeAsync();
        await dHeld.DisposeAsync();
        await using EtcdLockHandle? free = await Provider.TryAcquireSemaphoreAsync("/sem-fifo", 2);
        Assert.NotNull(free);
    }

    [Fact]
    public async Task A_semaphore_acquire_with_another_MaxCount_fails_naming_both()
    {
        await using EtcdLockHandle held = await Provider.AcquireSemaphoreAsync("/sem-count", 7);
        var ex = await Assert.ThrowsAsync<InvalidOperationException>(async () => await Provider.AcquireSemaphoreAsync("/sem-count", 11, Wait(TimeSpan.FromSeconds(1))));
        Assert.Matches(@"\b7\b", ex.Message); // both values, not digits of the key
        Assert.Matches(@"\b11\b", ex.Message);
        await Assert.ThrowsAsync<InvalidOperationException>(async () => await Provider.TryAcquireSemaphoreAsync("/sem-count", 1));

        await using EtcdLockHandle? second = await Provider.TryAcquireSemaphoreAsync("/sem-count", 7);
        Assert.NotNull(second); // the refused calls took no place
    }

    [Fact]
    public async Task A_full_semaphore_times_out_and_a_timed_out_or_cancelled_waiter_leaves_no_ticket()
    {
        EtcdLockHandle held = await Provider.AcquireSemaphoreAsync("/sem-timeout", 1);
        var ex = await Assert.ThrowsAsync<EtcdLockTimeoutException>(async () =>
            await Provider.AcquireSemaphoreAsync("/sem-timeout", 1, Wait(TimeSpan.FromMilliseconds(300))));
        Assert.Contains("/sem-timeout", ex.Key);
        Assert.Null(await Provider.TryAcquireSemaphoreAsync("/sem-timeout", 1, Wait(TimeSpan.FromMilliseconds(200))));
        using (var cts = new CancellationTokenSource(300))
        {
            await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => await Provider.AcquireSemaphoreAsync("/sem-timeout", 1, cancellationToken: cts.Token));
        }

        await held.DisposeAsync();
        // Had a waiter's ticket stayed, it would have the place now and this single attempt would find none.
        await using EtcdLockHandle? next = await Provider.TryAcquireSemaphoreAsync("/sem-timeout", 1);
        Assert.NotNull(next);
    }

    [Fact]
    public async Task Readers_hold_side_by_side_and_a_writer_excludes_them()
    {
        EtcdLockHandle? r1 = await Provider.TryAcquireReadLockAsync("/rw-share");
        EtcdLockHandle? r2 = await Provider.TryAcquireReadLockAsync("/rw-share");
        Assert.NotNull(r1);
        Assert.NotNull(r2);
        Assert.StartsWith(Prefix + "/rw-share/#rw/r/", r1.Key);
        Assert.True(r2.FencingToken > r1.FencingToken);
        Assert.Null(await Provider.TryAcquireWriteLockAsync("/rw-share")); // readers hold

        await r1.DisposeAsync();
        await r2.DisposeAsync();
        EtcdLockHandle? w = await Provider.TryAcquireWriteLockAsync("/rw-share");
        Assert.NotNull(w);
        Assert.StartsWith(Prefix + "/rw-share/#rw/w/", w.Key);
        Assert.Null(await Provider.TryAcquireReadLockAsync("/rw-share"));
        Assert.Null(await Provider.TryAcquireWriteLockAsync("/rw-share"));
        await Assert.ThrowsAsync<EtcdLockTimeoutException>(async () => await Provider.AcquireReadLockAsync("/rw-share", Wait(TimeSpan.FromMilliseconds(300))));

        await w.DisposeAsync();
        await using EtcdLockHandle? after = await Provider.TryAcquireReadLockAsync("/rw-share");
        Assert.NotNull(after);
    }

    [Fact]
    public async Task A_reader_that_comes_after_a_waiting_writer_waits_for_it()
    {
        EtcdLockHandle r1 = await Provider.AcquireReadLockAsync("/rw-fair");
        Task<EtcdLockHandle> writer = Provider.AcquireWriteLockAsync("/rw-fair", WaitLong).AsTask();
        await LetTicketsLandAsync();
        Assert.Null(await Provider.TryAcquireReadLockAsync("/rw-fair")); // no writer starvation
        Task<EtcdLockHandle> r2 = Provider.AcquireReadLockAsync("/rw-fair", WaitLong).AsTask();
        await AssertWaitingAsync(writer);
        Assert.False(r2.IsCompleted);

        await r1.DisposeAsync();
        EtcdLockHandle w = await writer.WaitAsync(s_long);
        await AssertWaitingAsync(r2);
        await w.DisposeAsync();
        await using EtcdLockHandle r2Held = await r2.WaitAsync(s_long);
        Assert.True(r2Held.FencingToken > w.FencingToken);
    }

    [Fact]
    public async Task A_cancelled_or_timed_out_writer_leaves_no_ticket_behind()
    {
        await using EtcdLockHandle reader = await Provider.AcquireReadLockAsync("/rw-cancel");
        using (var cts = new CancellationTokenSource(300))
        {
            await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => await Provider.AcquireWriteLockAsync("/rw-cancel", cancellationToken: cts.Token));
        }

        await Assert.ThrowsAsync<EtcdLockTimeoutException>(async () => await Provider.AcquireWriteLockAsync("/rw-cancel", Wait(TimeSpan.FromMilliseconds(300))));
        // A writer's ticket left behind would hold this reader back.
        await using EtcdLockHandle? second = await Provider.TryAcquireReadLockAsync("/rw-cancel");
        Assert.NotNull(second);
    }

    [Fact]
    public async Task Candidates_lead_in_campaign_order_and_a_resignation_hands_over_at_once()
    {
        Assert.Null(await Provider.GetLeaderAsync("/election"));
        EtcdLockHandle first = await Provider.CampaignAsync("/election");
        Assert.StartsWith(Prefix + "/election/#leader/", first.Key);
        Task<EtcdLockHandle> second = Provider.CampaignAsync("/election", WaitLong).AsTask();
        await LetTicketsLandAsync();
        Task<EtcdLockHandle> third = Provider.CampaignAsync("/election", WaitLong).AsTask();
        await LetTicketsLandAsync();

        EtcdLeaderInfo? leader = await Provider.GetLeaderAsync("/election");
        Assert.NotNull(leader);
        Assert.Equal(first.Key, leader.Key);
        Assert.Equal(first.FencingToken, leader.FencingToken);
        Assert.Equal(first.LeaseId, leader.LeaseId);
        Assert.False(string.IsNullOrEmpty(leader.Holder));
        await AssertWaitingAsync(second);

        await first.DisposeAsync(); // resigns: the next candidate leads without waiting for the TTL
        EtcdLockHandle secondHeld = await second.WaitAsync(s_long);
        Assert.True(secondHeld.FencingToken > first.FencingToken);
        Assert.Equal(secondHeld.Key, (await Provider.GetLeaderAsync("/election"))?.Key);
        await AssertWaitingAsync(third);

        await secondHeld.DisposeAsync();
        EtcdLockHandle thirdHeld = await third.WaitAsync(s_long);
        await thirdHeld.DisposeAsync();
        Assert.Null(await Provider.GetLeaderAsync("/election"));
    }

    [Fact]
    public async Task A_campaign_times_out_or_is_cancelled_without_leaving_a_candidate()
    {
        EtcdLockHandle leader = await Provider.CampaignAsync("/election-timeout");
        await Assert.ThrowsAsync<EtcdLockTimeoutException>(async () => await Provider.CampaignAsync("/election-timeout", Wait(TimeSpan.FromMilliseconds(300))));
        using (var cts = new CancellationTokenSource(300))
        {
            await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => await Provider.CampaignAsync("/election-timeout", cancellationToken: cts.Token));
        }

        await leader.DisposeAsync();
        Assert.Null(await Provider.GetLeaderAsync("/election-timeout")); // neither given-up candidate leads
    }

    [Fact]
    public async Task ObserveLeader_yields_the_leader_now_then_each_change_and_ends_on_cancellation()
    {
        using var stop = new CancellationTokenSource();
        await using IAsyncEnumerator<EtcdLeaderInfo?> seen = Provider.ObserveLeaderAsync("/observed", stop.Token).GetAsyncEnumerator();
        Assert.True(await seen.MoveNextAsync().AsTask().WaitAsync(s_long));
        Assert.Null(seen.Current);

        EtcdLockHandle first = await Provider.CampaignAsync("/observed");
        Assert.True(await seen.MoveNextAsync().AsTask().WaitAsync(s_long));
        Assert.Equal(first.Key, seen.Current?.Key);
        Assert.Equal(first.FencingToken, seen.Current?.FencingToken);

        Task<EtcdLockHandle> second = Provider.CampaignAsync("/observed", WaitLong).AsTask();
        await first.DisposeAsync();
        EtcdLockHandle secondHeld = await second.WaitAsync(s_long);
        Assert.True(await seen.MoveNextAsync().AsTask().WaitAsync(s_long)); // never first again, never twice in a row
        Assert.Equal(secondHeld.Key, seen.Current?.Key);

        await secondHeld.DisposeAsync();
        Assert.True(await seen.MoveNextAsync().AsTask().WaitAsync(s_long));
        Assert.Null(seen.Current);

        ValueTask<bool> next = seen.MoveNextAsync();
        stop.Cancel();
        try
        {
            Assert.False(await next.AsTask().WaitAsync(s_long));
        }
        catch (OperationCanceledException)
        {
            // ending by throwing the cancellation is as good as ending quietly
        }
    }

    [Fact]
    public async Task A_lost_ticket_fires_LostToken_refuses_guarded_writes_and_lets_the_next_in()
    {
        EtcdLockHandle ticket = await Provider.AcquireSemaphoreAsync("/sem-lost", 1, new EtcdLockOptions { TtlSeconds = 5 });
        string data = $"/contract-data-{Guid.NewGuid():N}";
        await ticket.PutIfHeldAsync(data, "written while held");
        Task<EtcdLockHandle> next = Provider.AcquireSemaphoreAsync("/sem-lost", 1, WaitLong).AsTask();
        await LetTicketsLandAsync();
        var fired = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        ticket.LostToken.Register(() => fired.SetResult());

        await LoseAsync(ticket, "/sem-lost");
        await fired.Task.WaitAsync(s_long);
        Assert.True(ticket.IsLost);
        await Assert.ThrowsAsync<EtcdLockNotHeldException>(() => ticket.PutIfHeldAsync(data, "stale"));
        // Within one process a lost hold keeps its place until it is released (as a lock's does in the engine): the
        // body that held it may still be running.
        await ticket.DisposeAsync();
        await using EtcdLockHandle nextHeld = await next.WaitAsync(s_long);
        Assert.Equal("written while held", await nextHeld.GetAsync(data));
    }

    [Fact]
    public async Task A_lost_leadership_passes_to_the_next_candidate()
    {
        EtcdLockHandle leader = await Provider.CampaignAsync("/election-lost", new EtcdLockOptions { TtlSeconds = 5 });
        Task<EtcdLockHandle> next = Provider.CampaignAsync("/election-lost", WaitLong).AsTask();
        await LetTicketsLandAsync();
        var fired = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        leader.LostToken.Register(() => fired.SetResult());

        await LoseAsync(leader, "/election-lost");
        await fired.Task.WaitAsync(s_long);
        await leader.DisposeAsync(); // a lost leadership keeps its place in this process until released
        await using EtcdLockHandle nextHeld = await next.WaitAsync(s_long);
        Assert.Equal(nextHeld.Key, (await Provider.GetLeaderAsync("/election-lost"))?.Key);
    }

    [Fact]
    public async Task Fencing_tokens_increase_across_every_kind_of_hold()
    {
        await using EtcdLockHandle lockHold = await Provider.AcquireAsync("/tokens/lock");
        await using EtcdLockHandle ticket = await Provider.AcquireSemaphoreAsync("/tokens/sem", 3);
        await using EtcdLockHandle reader = await Provider.AcquireReadLockAsync("/tokens/rw");
        await using EtcdLockHandle writer = await Provider.AcquireWriteLockAsync("/tokens/rw2");
        await using EtcdLockHandle leader = await Provider.CampaignAsync("/tokens/election");
        long[] tokens = [lockHold.FencingToken, ticket.FencingToken, reader.FencingToken, writer.FencingToken, leader.FencingToken];
        Assert.Equal(tokens.Order(), tokens);
        Assert.Equal(5, tokens.Distinct().Count());
    }

    [Fact]
    public async Task Bad_arguments_of_the_new_primitives_are_refused()
    {
        var atLeast = new EtcdLockOptions { HoldAtLeast = TimeSpan.FromSeconds(1) };
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(async () => await Provider.AcquireSemaphoreAsync("/bad", 0));
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(async () => await Provider.TryAcquireSemaphoreAsync("/bad", -1));
        await Assert.ThrowsAnyAsync<ArgumentException>(async () => await Provider.AcquireSemaphoreAsync("/bad", 1, atLeast));
        await Assert.ThrowsAnyAsync<ArgumentException>(async () => await Provider.AcquireReadLockAsync("/bad", atLeast));
        await Assert.ThrowsAnyAsync<ArgumentException>(async () => await Provider.TryAcquireWriteLockAsync("/bad", atLeast));
        await Assert.ThrowsAnyAsync<ArgumentException>(async () => await Provider.CampaignAsync("/bad", atLeast));
        await Assert.ThrowsAsync<ArgumentNullException>(async () => await Provider.AcquireReadLockAsync(null!));
        await Assert.ThrowsAsync<ArgumentException>(async () => await Provider.CampaignAsync(""));
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(async () => await Provider.AcquireWriteLockAsync("/bad", new EtcdLockOptions { TtlSeconds = 0 }));

        await using EtcdLockHandle? free = await Provider.TryAcquireWriteLockAsync("/bad");
        Assert.NotNull(free); // nothing was left behind by the refused calls
        await using EtcdLockHandle? place = await Provider.TryAcquireSemaphoreAsync("/bad", 1);
        Assert.NotNull(place);
        Assert.Null(await Provider.GetLeaderAsync("/bad"));
    }

    [Fact]
    public async Task Disposing_the_provider_tells_open_tickets_and_ends_leader_observers()
    {
        EtcdLockHandle ticket = await Provider.AcquireSemaphoreAsync("/disposed-sem", 2, new EtcdLockOptions { TtlSeconds = 30 });
        EtcdLockHandle leader = await Provider.CampaignAsync("/disposed-election", new EtcdLockOptions { TtlSeconds = 30 });
        var fired = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        ticket.LostToken.Register(() => fired.SetResult());
        IAsyncEnumerator<EtcdLeaderInfo?> seen = Provider.ObserveLeaderAsync("/disposed-election").GetAsyncEnumerator();
        Assert.True(await seen.MoveNextAsync().AsTask().WaitAsync(s_long));
        Assert.Equal(leader.Key, seen.Current?.Key);

        await ((IAsyncDisposable)Provider).DisposeAsync();
        await fired.Task.WaitAsync(s_long);
        Assert.True(leader.IsLost);
        try
        {
            Assert.False(await seen.MoveNextAsync().AsTask().WaitAsync(s_long));
        }
        catch (ObjectDisposedException)
        {
            // ending by saying the provider is gone is as good as ending quietly
        }

        await seen.DisposeAsync();
        await Assert.ThrowsAsync<ObjectDisposedException>(async () => await Provider.AcquireSemaphoreAsync("/disposed-sem", 2));
        await ticket.DisposeAsync();
        await leader.DisposeAsync();
    }
}
