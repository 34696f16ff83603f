using AttributeLock.EtcdFixture;
using dotnet_etcd;
using Etcdserverpb;

namespace AttributeLock.Testing.Tests;

/// <summary>
/// The semantics the in-memory test double promises, run against the real engine on a real etcd and against the
/// double: a difference between the two fails here.
/// </summary>
public abstract partial class ProviderContractTests : IAsyncLifetime
{
    protected IEtcdLockProvider Provider { get; private set; } = null!;

    protected string Prefix { get; } = $"/contract-{Guid.NewGuid():N}";

    protected abstract Task<IEtcdLockProvider> CreateAsync();

    /// <summary>Makes the current hold of <paramref name="key"/> lost, as the engine would see it.</summary>
    protected abstract Task LoseAsync(EtcdLockHandle handle, string key);

    /// <summary>Makes <paramref name="key"/> busy elsewhere; dispose to free it.</summary>
    protected abstract Task<IAsyncDisposable> HoldElsewhereAsync(string key);

    public async Task InitializeAsync() => Provider = await CreateAsync();

    public virtual async Task DisposeAsync() => await ((IAsyncDisposable)Provider).DisposeAsync();

    [Fact]
    public async Task Holds_are_exclusive_and_fencing_tokens_increase()
    {
        string key = "/exclusive";
        int inside = 0, maxInside = 0;
        var tokens = new System.Collections.Concurrent.ConcurrentBag<long>();
        await Task.WhenAll(Enumerable.Range(0, 6).Select(_ => Task.Run(async () =>
        {
            for (int i = 0; i < 4; i++)
            {
                await using EtcdLockHandle h = await Provider.AcquireAsync(key, new EtcdLockOptions { WaitTimeout = TimeSpan.FromSeconds(30) });
                tokens.Add(h.FencingToken);
                int now = Interlocked.Increment(ref inside);
                lock (tokens)
                {
                    maxInside = Math.Max(maxInside, now);
                }

                await Task.Delay(5);
                Interlocked.Decrement(ref inside);
            }
        })));
        Assert.Equal(1, maxInside);
        Assert.Equal(24, tokens.Distinct().Count());
    }

    [Fact]
    public async Task Busy_keys_give_null_once_and_a_timeout_naming_key_and_holder()
    {
        await using IAsyncDisposable elsewhere = await HoldElsewhereAsync("/busy");
        Assert.Null(await Provider.TryAcquireAsync("/busy"));
        var ex = await Assert.ThrowsAsync<EtcdLockTimeoutException>(async () =>
            await Provider.AcquireAsync("/busy", new EtcdLockOptions { WaitTimeout = TimeSpan.FromMilliseconds(200) }));
        Assert.EndsWith("/busy", ex.Key);
        Assert.False(string.IsNullOrEmpty(ex.Holder));
        using var cts = new CancellationTokenSource(200);
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => await Provider.AcquireAsync("/busy", cancellationToken: cts.Token));
    }

    [Fact]
    public async Task The_direct_api_is_not_reentrant()
    {
        await using EtcdLockHandle held = await Provider.AcquireAsync("/not-reentrant");
        Assert.Null(await Provider.TryAcquireAsync("/not-reentrant"));
        Assert.Null(EtcdLockContext.Current);
    }

    [Fact]
    public async Task Bad_keys_and_options_are_refused_with_the_same_exceptions()
    {
        await Assert.ThrowsAsync<ArgumentNullException>(async () => await Provider.AcquireAsync(null!));
        await Assert.ThrowsAsync<ArgumentException>(async () => await Provider.AcquireAsync(""));
        await Assert.ThrowsAsync<ArgumentException>(async () => await Provider.AcquireAsync("/x/\ud800"));
        await Assert.ThrowsAsync<ArgumentException>(async () => await Provider.AcquireAsync("/" + new string('k', 5000)));
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(async () => await Provider.AcquireAsync("/x", new EtcdLockOptions { TtlSeconds = 0 }));
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(async () => await Provider.AcquireAsync("/x", new EtcdLockOptions { WaitTimeout = TimeSpan.FromSeconds(-2) }));
    }

    [Fact]
    public async Task A_lost_hold_fires_LostToken_and_its_guarded_writes_are_refused()
    {
        EtcdLockHandle handle = await Provider.AcquireAsync("/lost", new EtcdLockOptions { TtlSeconds = 5 });
        Assert.True((await handle.WriteIfHeldAsync([])).Succeeded);
        var fired = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        handle.LostToken.Register(() => fired.SetResult());
        await LoseAsync(handle, "/lost");
        await fired.Task.WaitAsync(TimeSpan.FromSeconds(15));
        Assert.True(handle.IsLost);
        await Assert.ThrowsAsync<EtcdLockNotHeldException>(() => handle.PutIfHeldAsync(Prefix + "/data", "stale"));
        await handle.DisposeAsync();

        await using EtcdLockHandle next = await Provider.AcquireAsync("/lost", new EtcdLockOptions { WaitTimeout = TimeSpan.FromSeconds(10) });
        Assert.True(next.FencingToken > handle.FencingToken);
    }

    [Fact]
    public async Task A_read_modify_write_reads_through_the_handle_what_guarded_writes_left()
    {
        // Guarded-write keys are plain etcd keys, not under the provider's KeyPrefix.
        string data = $"/contract-data-{Guid.NewGuid():N}";
        for (int i = 0; i < 3; i++)
        {
            await using EtcdLockHandle hold = await Provider.AcquireAsync("/counter", new EtcdLockOptions { WaitTimeout = TimeSpan.FromSeconds(10) });
            long count = long.Parse(await hold.GetAsync($"{data}/count") ?? "0", System.Globalization.CultureInfo.InvariantCulture);
            await hold.PutIfHeldAsync($"{data}/count", (count + 1).ToString(System.Globalization.CultureInfo.InvariantCulture));
            await hold.PutIfHeldAsync($"{data}/by/{i}", "x");
        }

        await using EtcdLockHandle reader = await Provider.AcquireAsync("/counter");
        Assert.Equal("3", await reader.GetAsync($"{data}/count"));
        Assert.Null(await reader.GetAsync($"{data}/missing"));
        RangeResponse byPrefix = await reader.RangeAsync(new RangeRequest
        {
            Key = Google.Protobuf.ByteString.CopyFromUtf8($"{data}/by/"),
            RangeEnd = Google.Protobuf.ByteString.CopyFromUtf8($"{data}/by0"),
        });
        Assert.Equal([$"{data}/by/0", $"{data}/by/1", $"{data}/by/2"], byPrefix.Kvs.Select(kv => kv.Key.ToStringUtf8()));
        Assert.Equal(3, byPrefix.Count);
    }

    [Fact]
    public async Task Generated_wrappers_skip_when_busy_and_nest_on_the_same_key()
    {
        var service = new ContractService(Provider);
        Assert.Equal(1, await service.TryRunAsync(CancellationToken.None));
        await using (await HoldElsewhereAsync("/service/job"))
        {
            Assert.Equal(0, await service.TryRunAsync(CancellationToken.None)); // skipped, body not run
        }

        Assert.True(await service.OuterAsync(CancellationToken.None));
        Assert.Equal(2, service.Runs);
    }

    [Fact]
    public async Task A_release_before_the_minimum_hold_leaves_the_key_busy_until_the_minimum_has_passed()
    {
        EtcdLockHandle first = await Provider.AcquireAsync("/at-least", new EtcdLockOptions { TtlSeconds = 5, HoldAtLeast = TimeSpan.FromSeconds(3) });
        await first.DisposeAsync();

        Assert.Null(await Provider.TryAcquireAsync("/at-least")); // not even a caller of the same process slips in
        await using EtcdLockHandle next = await Provider.AcquireAsync("/at-least", new EtcdLockOptions { WaitTimeout = TimeSpan.FromSeconds(30) });
        Assert.True(next.FencingToken > first.FencingToken);
    }

    [Fact]
    public async Task A_release_after_the_minimum_hold_or_of_a_lost_hold_frees_the_key_at_once()
    {
        EtcdLockHandle passed = await Provider.AcquireAsync("/at-least-passed", new EtcdLockOptions { HoldAtLeast = TimeSpan.FromMilliseconds(200) });
        await Task.Delay(500); // more than the minimum, whatever the clocks
        await passed.DisposeAsync();
        await using (EtcdLockHandle? again = await Provider.TryAcquireAsync("/at-least-passed"))
        {
            Assert.NotNull(again);
        }

        EtcdLockHandle lost = await Provider.AcquireAsync("/at-least-lost", new EtcdLockOptions { TtlSeconds = 5, HoldAtLeast = TimeSpan.FromSeconds(30) });
        var fired = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        lost.LostToken.Register(() => fired.SetResult());
        await LoseAsync(lost, "/at-least-lost");
        await fired.Task.WaitAsync(TimeSpan.FromSeconds(15));
        await lost.DisposeAsync();
        await using EtcdLockHandle? taken = await Provider.TryAcquireAsync("/at-least-lost");
        Assert.NotNull(taken); // a lost hold keeps nothing for its minimum
    }

    [Fact]
    public async Task A_wrapper_with_a_minimum_hold_skips_the_same_run_even_after_its_body_threw()
    {
        var service = new ContractService(Provider);

        await Assert.ThrowsAsync<InvalidOperationException>(() => service.SettleAsync(fail: true, CancellationToken.None));

        Assert.Equal(0, await service.SettleAsync(fail: false, CancellationToken.None)); // skipped: the key is still taken
        Assert.Equal(0, service.Runs);
    }

    [Fact]
    public async Task A_negative_or_too_long_minimum_hold_is_refused_naming_the_option()
    {
        var negative = await Assert.ThrowsAsync<ArgumentOutOfRangeException>(async () =>
            await Provider.AcquireAsync("/x", new EtcdLockOptions { HoldAtLeast = TimeSpan.FromMilliseconds(-1) }));
        var tooLong = await Assert.ThrowsAsync<ArgumentOutOfRangeException>(async () =>
            await Provider.TryAcquireAsync("/x", new EtcdLockOptions { HoldAtLeast = TimeSpan.MaxValue }));
        Assert.Contains("EtcdLockOptions.HoldAtLeast", negative.Message);
        Assert.Contains("EtcdLockOptions.HoldAtLeast", tooLong.Message);
        await using EtcdLockHandle? free = await Provider.TryAcquireAsync("/x");
        Assert.NotNull(free); // nothing was taken by the refused calls
    }

    [Fact]
    public async Task Disposing_the_provider_tells_open_holds()
    {
        EtcdLockHandle handle = await Provider.AcquireAsync("/disposed", new EtcdLockOptions { TtlSeconds = 30 });
        var fired = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        handle.LostToken.Register(() => fired.SetResult());
        await ((IAsyncDisposable)Provider).DisposeAsync();
        await fired.Task.WaitAsync(TimeSpan.FromSeconds(15));
        await Assert.ThrowsAsync<ObjectDisposedException>(async () => await Provider.AcquireAsync("/disposed"));
        await handle.DisposeAsync();
    }
}
