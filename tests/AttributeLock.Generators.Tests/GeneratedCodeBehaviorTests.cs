using System.Reflection;
using System.Runtime.Loader;

namespace AttributeLock.Generators.Tests;

/// <summary>
/// Runs generated wrappers against an in-memory provider that never grants the lock (no etcd): the key, the
/// options, the null checks of member paths and the skip path are observable without a held lock.
/// </summary>
public sealed class GeneratedCodeBehaviorTests
{
    private const string Source = TestCompilation.Usings + """
        using System.Collections.Generic;

        namespace Shop;

        public sealed class RecordingProvider : IEtcdLockProvider
        {
            public List<string> Calls { get; } = new();

            public ValueTask<EtcdLockHandle> AcquireAsync(string key, EtcdLockOptions? options = null, CancellationToken cancellationToken = default)
            {
                Calls.Add($"Acquire {key} ttl={options?.TtlSeconds} wait={options?.WaitTimeout} canCancel={cancellationToken.CanBeCanceled}");
                throw new TimeoutException(key);
            }

            public ValueTask<EtcdLockHandle?> TryAcquireAsync(string key, EtcdLockOptions? options = null, CancellationToken cancellationToken = default)
            {
                Calls.Add($"TryAcquire {key} ttl={options?.TtlSeconds} wait={options?.WaitTimeout}" + (options?.HoldAtLeast is { } hold ? $" hold={hold}" : ""));
                return new ValueTask<EtcdLockHandle?>((EtcdLockHandle?)null);
            }

            public ValueTask<EtcdLockHandle> AcquireSemaphoreAsync(string key, int maxCount, EtcdLockOptions? options = null, CancellationToken cancellationToken = default)
                => throw new TimeoutException(Record("AcquireSemaphore", key, options, $" max={maxCount}"));

            public ValueTask<EtcdLockHandle?> TryAcquireSemaphoreAsync(string key, int maxCount, EtcdLockOptions? options = null, CancellationToken cancellationToken = default)
                => None(Record("TryAcquireSemaphore", key, options, $" max={maxCount}"));

            public ValueTask<EtcdLockHandle> AcquireReadLockAsync(string key, EtcdLockOptions? options = null, CancellationToken cancellationToken = default)
                => throw new TimeoutException(Record("AcquireReadLock", key, options));

            public ValueTask<EtcdLockHandle?> TryAcquireReadLockAsync(string key, EtcdLockOptions? options = null, CancellationToken cancellationToken = default)
                => None(Record("TryAcquireReadLock", key, options));

            public ValueTask<EtcdLockHandle> AcquireWriteLockAsync(string key, EtcdLockOptions? options = null, CancellationToken cancellationToken = default)
                => throw new TimeoutException(Record("AcquireWriteLock", key, options));

            public ValueTask<EtcdLockHandle?> TryAcquireWriteLockAsync(string key, EtcdLockOptions? options = null, CancellationToken cancellationToken = default)
                => None(Record("TryAcquireWriteLock", key, options));

            public ValueTask<EtcdLockHandle> CampaignAsync(string election, EtcdLockOptions? options = null, CancellationToken cancellationToken = default)
                => throw new NotSupportedException(Record("Campaign", election, options));

            public ValueTask<EtcdLeaderInfo?> GetLeaderAsync(string election, CancellationToken cancellationToken = default)
                => throw new NotSupportedException(election);

            public IAsyncEnumerable<EtcdLeaderInfo?> ObserveLeaderAsync(string election, CancellationToken cancellationToken = default)
                => throw new NotSupportedException(election);

            private string Record(string call, string key, EtcdLockOptions? options, string extra = "")
            {
                string text = $"{call} {key} ttl={options?.TtlSeconds} wait={options?.WaitTimeout}{extra}";
                Calls.Add(text);
                return text;
            }

            private static ValueTask<EtcdLockHandle?> None(string _) => new((EtcdLockHandle?)null);
        }

        public sealed class Customer
        {
            public string? Country { get; set; }
        }

        public sealed class Order
        {
            public Customer? Customer { get; set; }
        }

        public partial class Service(RecordingProvider locks)
        {
            public int CoreCalls { get; private set; }

            [EtcdLock("/orders/<tenant>/<id>", Ttl = 7, WaitTimeoutMilliseconds = 250)]
            public partial Task ShipAsync(string tenant, int id, CancellationToken ct);

            [EtcdLock("/customers/<order.Customer.Country>")]
            public partial Task ByCountryAsync(Order order);

            [EtcdLock("/jobs/<day>", WaitTimeoutMilliseconds = 0, WhenBusy = LockBusyBehavior.Skip)]
            public partial Task<string> NightlyAsync(DateOnly day);

            [EtcdLock("/jobs/weekly/<day>", WhenBusy = LockBusyBehavior.Skip)]
            public partial Task<string> WeeklyAsync(DateOnly day);

            [EtcdLock("/jobs/monthly/<day>", WaitTimeoutMilliseconds = -1, WhenBusy = LockBusyBehavior.Skip)]
            public partial Task<string> MonthlyAsync(DateOnly day);

            [EtcdLock("/jobs/settlement/<day>", WhenBusy = LockBusyBehavior.Skip, HoldAtLeastMilliseconds = 30_000)]
            public partial Task<string> SettleAsync(DateOnly day);

            [EtcdSemaphore("/reports/<day>", MaxCount = 3, WhenBusy = LockBusyBehavior.Skip)]
            public partial Task<string> ReportAsync(DateOnly day);

            [EtcdSemaphore("/reports/all", MaxCount = 2, Ttl = 9, WaitTimeoutMilliseconds = 100)]
            public partial Task ReportAllAsync(CancellationToken ct);

            [EtcdReadLock("/catalog/<day>", Ttl = 4, WhenBusy = LockBusyBehavior.Skip)]
            public partial Task<string> ReadAsync(DateOnly day);

            [EtcdWriteLock("/catalog/<day>", WhenBusy = LockBusyBehavior.Skip)]
            public partial Task<string> WriteAsync(DateOnly day);

            private Task<string> ReportAsyncCore(DateOnly day) { CoreCalls++; return Task.FromResult("ran"); }

            private Task ReportAllAsyncCore(CancellationToken ct) { CoreCalls++; return Task.CompletedTask; }

            private Task<string> ReadAsyncCore(DateOnly day) { CoreCalls++; return Task.FromResult("ran"); }

            private Task<string> WriteAsyncCore(DateOnly day) { CoreCalls++; return Task.FromResult("ran"); }

            private Task<string> SettleAsyncCore(DateOnly day) { CoreCalls++; return Task.FromResult("ran"); }

            private Task<string> WeeklyAsyncCore(DateOnly day) { CoreCalls++; return Task.FromResult("ran"); }

            private Task<string> MonthlyAsyncCore(DateOnly day) { CoreCalls++; return Task.FromResult("ran"); }

            private Task ShipAsyncCore(string tenant, int id, CancellationToken ct) { CoreCalls++; return Task.CompletedTask; }

            private Task ByCountryAsyncCore(Order order) { CoreCalls++; return Task.CompletedTask; }

            private Task<string> NightlyAsyncCore(DateOnly day) { CoreCalls++; return Task.FromResult("ran"); }
        }
        """;

    private static readonly Lazy<Assembly> Compiled = new(() =>
    {
        GeneratorOutcome outcome = TestCompilation.Run(Source);
        outcome.AssertCompilesCleanly();
        using var stream = new MemoryStream();
        var emit = outcome.Compilation.Emit(stream);
        Assert.True(emit.Success, string.Join("\n", emit.Diagnostics));
        stream.Position = 0;
        return new AssemblyLoadContext("generated-code-tests", isCollectible: true).LoadFromStream(stream);
    });

    [Fact]
    public async Task Throw_formats_and_escapes_the_key_and_passes_options()
    {
        (object service, List<string> calls) = Create();
        using var cts = new CancellationTokenSource();

        var error = await Assert.ThrowsAsync<TimeoutException>(() => Invoke(service, "ShipAsync", "a/b", 42, cts.Token));

        Assert.Equal("/orders/a%2Fb/42", error.Message);
        Assert.Equal(["Acquire /orders/a%2Fb/42 ttl=7 wait=00:00:00.2500000 canCancel=True"], calls);
        Assert.Equal(0, CoreCalls(service));
    }

    [Fact]
    public async Task Null_parameter_throws_ArgumentNull_before_the_provider_is_asked()
    {
        (object service, List<string> calls) = Create();

        var error = await Assert.ThrowsAsync<ArgumentNullException>(() => Invoke(service, "ShipAsync", null, 1, CancellationToken.None));

        Assert.Equal("tenant", error.ParamName);
        Assert.Empty(calls);
    }

    [Theory]
    [InlineData(false, false, "order")]
    [InlineData(true, false, "order.Customer")]
    [InlineData(true, true, "order.Customer.Country")]
    public async Task Null_in_member_path_throws_ArgumentNull_naming_the_path(bool hasOrder, bool hasCustomer, string expectedName)
    {
        (object service, List<string> calls) = Create();
        Assembly assembly = Compiled.Value;
        object? order = null;
        if (hasOrder)
        {
            order = Activator.CreateInstance(assembly.GetType("Shop.Order")!)!;
            if (hasCustomer)
            {
                order.GetType().GetProperty("Customer")!.SetValue(order, Activator.CreateInstance(assembly.GetType("Shop.Customer")!));
            }
        }

        var error = await Assert.ThrowsAsync<ArgumentNullException>(() => Invoke(service, "ByCountryAsync", order));

        Assert.Equal(expectedName, error.ParamName);
        Assert.Empty(calls);
    }

    [Fact]
    public async Task Skip_returns_default_without_running_the_body()
    {
        (object service, List<string> calls) = Create();

        var task = (Task<string>)service.GetType().GetMethod("NightlyAsync")!.Invoke(service, [new DateOnly(2026, 1, 31)])!;
        string result = await task;

        Assert.Null(result);
        Assert.Equal(["TryAcquire /jobs/2026-01-31 ttl= wait=00:00:00"], calls);
        Assert.Equal(0, CoreCalls(service));
    }

    [Fact]
    public async Task Semaphore_and_reader_writer_wrappers_reach_their_provider_calls()
    {
        (object service, List<string> calls) = Create();
        var day = new DateOnly(2026, 1, 31);

        Assert.Null(await (Task<string>)service.GetType().GetMethod("ReportAsync")!.Invoke(service, [day])!);
        Assert.Null(await (Task<string>)service.GetType().GetMethod("ReadAsync")!.Invoke(service, [day])!);
        Assert.Null(await (Task<string>)service.GetType().GetMethod("WriteAsync")!.Invoke(service, [day])!);
        await Assert.ThrowsAsync<TimeoutException>(() => Invoke(service, "ReportAllAsync", CancellationToken.None));

        Assert.Equal(
            [
                "TryAcquireSemaphore /reports/2026-01-31 ttl= wait=00:00:00 max=3",
                "TryAcquireReadLock /catalog/2026-01-31 ttl=4 wait=00:00:00",
                "TryAcquireWriteLock /catalog/2026-01-31 ttl= wait=00:00:00",
                "AcquireSemaphore /reports/all ttl=9 wait=00:00:00.1000000 max=2",
            ],
            calls);
        Assert.Equal(0, CoreCalls(service));
    }

    [Fact]
    public async Task Skip_without_a_wait_timeout_makes_one_attempt_and_an_explicit_wait_is_kept()
    {
        (object service, List<string> calls) = Create();
        var day = new DateOnly(2026, 1, 31);

        Assert.Null(await (Task<string>)service.GetType().GetMethod("WeeklyAsync")!.Invoke(service, [day])!);
        Assert.Null(await (Task<string>)service.GetType().GetMethod("MonthlyAsync")!.Invoke(service, [day])!);

        Assert.Equal(["TryAcquire /jobs/weekly/2026-01-31 ttl= wait=00:00:00", "TryAcquire /jobs/monthly/2026-01-31 ttl= wait=-00:00:00.0010000"], calls);
        Assert.Equal(0, CoreCalls(service));
    }

    [Fact]
    public async Task A_minimum_hold_reaches_the_provider_as_HoldAtLeast()
    {
        (object service, List<string> calls) = Create();

        Assert.Null(await (Task<string>)service.GetType().GetMethod("SettleAsync")!.Invoke(service, [new DateOnly(2026, 1, 31)])!);

        Assert.Equal(["TryAcquire /jobs/settlement/2026-01-31 ttl= wait=00:00:00 hold=00:00:30"], calls);
        Assert.Equal(0, CoreCalls(service));
    }

    private static (object Service, List<string> Calls) Create()
    {
        Assembly assembly = Compiled.Value;
        object provider = Activator.CreateInstance(assembly.GetType("Shop.RecordingProvider")!)!;
        object service = Activator.CreateInstance(assembly.GetType("Shop.Service")!, provider)!;
        var calls = (List<string>)provider.GetType().GetProperty("Calls")!.GetValue(provider)!;
        return (service, calls);
    }

    private static Task Invoke(object service, string method, params object?[] arguments)
        => (Task)service.GetType().GetMethod(method)!.Invoke(service, arguments)!;

    private static int CoreCalls(object service) => (int)service.GetType().GetProperty("CoreCalls")!.GetValue(service)!;
}
