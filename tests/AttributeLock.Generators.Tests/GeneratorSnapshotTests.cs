using System.Runtime.CompilerServices;

namespace AttributeLock.Generators.Tests;

/// <summary>
/// One snapshot per supported shape. Each test also compiles the generated code together with the user code
/// and requires no warning and no error.
/// </summary>
public sealed class GeneratorSnapshotTests
{
    [Fact]
    public void Task_returning_method()
    {
        Verify("""
            namespace Shop;

            public partial class OrderService(IEtcdLockProvider locks)
            {
                [EtcdLock("/orders/<id>", Ttl = 5)]
                public partial Task ShipAsync(int id, CancellationToken ct);

                private Task ShipAsyncCore(int id, CancellationToken ct) => Task.Delay(1, ct);
            }
            """, ["OrderService.ShipAsync.g.cs"]);
    }

    [Fact]
    public void Task_of_T_returning_method()
    {
        Verify("""
            namespace Shop;

            public partial class OrderService
            {
                private readonly IEtcdLockProvider _locks;

                public OrderService(IEtcdLockProvider locks) => _locks = locks;

                [EtcdLock("/orders/<orderId>/invoice", WaitTimeoutMilliseconds = 2000)]
                internal partial Task<string?> InvoiceAsync(Guid orderId, CancellationToken cancellationToken);

                private Task<string?> InvoiceAsyncCore(Guid orderId, CancellationToken cancellationToken) => Task.FromResult<string?>(null);
            }
            """, ["OrderService.InvoiceAsync.g.cs"]);
    }

    [Fact]
    public void ValueTask_returning_method()
    {
        Verify("""
            namespace Shop;

            public partial class Cache
            {
                protected IEtcdLockProvider Locks { get; }

                public Cache(IEtcdLockProvider locks) => Locks = locks;

                [EtcdLock("/cache/<region>")]
                public partial ValueTask RefreshAsync(string region, CancellationToken ct);

                private ValueTask RefreshAsyncCore(string region, CancellationToken ct) => default;
            }
            """, ["Cache.RefreshAsync.g.cs"]);
    }

    [Fact]
    public void ValueTask_of_T_returning_method()
    {
        Verify("""
            namespace Shop;

            public enum Region { North, South }

            public partial class Counter(IEtcdLockProvider locks)
            {
                [EtcdLock("/counters/<region>/<day>", Ttl = 30, WaitTimeoutMilliseconds = 0)]
                public partial ValueTask<long> IncrementAsync(Region region, DateOnly day, CancellationToken ct);

                private ValueTask<long> IncrementAsyncCore(Region region, DateOnly day, CancellationToken ct) => new(1L);
            }
            """, ["Counter.IncrementAsync.g.cs"]);
    }

    [Fact]
    public void Generic_method()
    {
        Verify("""
            namespace Shop;

            public partial class Store(IEtcdLockProvider locks)
            {
                [EtcdLock("/items/<key>")]
                public partial Task<TItem?> LoadAsync<TKey, TItem>(TKey key, CancellationToken ct)
                    where TKey : struct, IFormattable
                    where TItem : class, new();

                private Task<TValue?> LoadAsyncCore<TId, TValue>(TId key, CancellationToken ct)
                    where TId : struct, IFormattable
                    where TValue : class, new()
                    => Task.FromResult<TValue?>(new TValue());
            }
            """, ["Store.LoadAsync{TKey,TItem}.g.cs"]);
    }

    [Fact]
    public void Nested_and_generic_containing_types()
    {
        Verify("""
            namespace Shop.Data;

            public static partial class Outer
            {
                internal partial struct Middle<T>
                    where T : notnull
                {
                    public partial record Inner<TKey>(IEtcdLockProvider Locks)
                        where TKey : IKey
                    {
                        [EtcdLock("/nested/<key>")]
                        public partial Task SaveAsync(TKey key, T value, CancellationToken ct);

                        private Task SaveAsyncCore(TKey key, T value, CancellationToken ct) => Task.CompletedTask;
                    }
                }
            }

            public interface IKey : IFormattable
            {
            }
            """, ["Outer.Middle{T}.Inner{TKey}.SaveAsync.g.cs"]);
    }

    [Fact]
    public void Static_method()
    {
        Verify("""
            namespace Shop;

            public static partial class Jobs
            {
                public static IEtcdLockProvider Locks { get; set; } = null!;

                [EtcdLock("/jobs/nightly", WhenBusy = LockBusyBehavior.Throw)]
                public static partial Task RunNightlyAsync(CancellationToken ct);

                private static Task RunNightlyAsyncCore(CancellationToken ct) => Task.CompletedTask;
            }
            """, ["Jobs.RunNightlyAsync.g.cs"]);
    }

    [Fact]
    public void Several_placeholders()
    {
        Verify("""
            namespace Shop;

            public partial class Transfers(IEtcdLockProvider locks)
            {
                [EtcdLock("/tenants/<tenant>/accounts/<from>-<to>\t\"x\"")]
                public partial Task MoveAsync(string tenant, long from, long? to, decimal amount, CancellationToken ct);

                private Task MoveAsyncCore(string tenant, long from, long? to, decimal amount, CancellationToken ct) => Task.CompletedTask;
            }
            """, ["Transfers.MoveAsync.g.cs"]);
    }

    [Fact]
    public void Member_paths()
    {
        Verify("""
            namespace Shop;

            public sealed record Customer(string Country, int Number);

            public sealed class Order
            {
                public Customer? Customer { get; init; }
                public int CustomerId;
            }

            public partial class Shipping(IEtcdLockProvider locks)
            {
                [EtcdLock("/customers/<order.CustomerId>/<order.Customer.Country>/<point.X>")]
                public partial Task ShipAsync(Order order, (int X, int Y)? point, CancellationToken ct);

                private Task ShipAsyncCore(Order order, (int X, int Y)? point, CancellationToken ct) => Task.CompletedTask;
            }
            """, ["Shipping.ShipAsync.g.cs"]);
    }

    [Fact]
    public void Without_CancellationToken()
    {
        Verify("""
            namespace Shop;

            public partial class Reports(IEtcdLockProvider locks)
            {
                [EtcdLock("/reports/<year>")]
                public partial Task<int> BuildAsync(int year, params string[] sections);

                private Task<int> BuildAsyncCore(int year, params string[] sections) => Task.FromResult(sections.Length);
            }
            """, ["Reports.BuildAsync.g.cs"]);
    }

    [Fact]
    public void Skip_when_busy()
    {
        Verify("""
            namespace Shop;

            public partial class Scheduler(IEtcdLockProvider locks)
            {
                [EtcdLock("/jobs/cleanup", WaitTimeoutMilliseconds = 0, WhenBusy = LockBusyBehavior.Skip)]
                public partial Task CleanupAsync(CancellationToken ct);

                [EtcdLock("/jobs/count", WaitTimeoutMilliseconds = 0, WhenBusy = LockBusyBehavior.Skip)]
                public partial ValueTask<int> CountAsync(CancellationToken ct);

                private Task CleanupAsyncCore(CancellationToken ct) => Task.CompletedTask;

                private ValueTask<int> CountAsyncCore(CancellationToken ct) => new(3);
            }
            """, ["Scheduler.CleanupAsync.g.cs", "Scheduler.CountAsync.g.cs"]);
    }

    [Fact]
    public void Skip_when_busy_with_a_minimum_hold()
    {
        Verify("""
            namespace Shop;

            public partial class Scheduler(IEtcdLockProvider locks)
            {
                [EtcdLock("/jobs/settlement", Ttl = 10, WhenBusy = LockBusyBehavior.Skip, HoldAtLeastMilliseconds = 30_000)]
                public partial Task SettleAsync(CancellationToken ct);

                private Task SettleAsyncCore(CancellationToken ct) => Task.CompletedTask;
            }
            """, ["Scheduler.SettleAsync.g.cs"]);
    }

    [Fact]
    public void Overloads_and_keyword_names()
    {
        Verify("""
            namespace Shop;

            public partial class Locking
            {
                private static IEtcdLockProvider locks = null!;

                [EtcdLock("/a/<class>")]
                public partial Task RunAsync(int @class);

                [EtcdLock("/b/<@class>")]
                public partial Task RunAsync(string @class, IEtcdLockProvider locks);

                private Task RunAsyncCore(int @class) => Task.CompletedTask;

                private Task RunAsyncCore(string @class, IEtcdLockProvider locks) => Task.CompletedTask;
            }
            """, ["Locking.RunAsync.g.cs", "Locking.RunAsync.2.g.cs"]);
    }

    [Fact]
    public void Semaphore_method()
    {
        Verify("""
            namespace Shop;

            public sealed record Report(string Kind);

            public partial class Reports(IEtcdLockProvider locks)
            {
                [EtcdSemaphore("/reports/<kind>", MaxCount = 3, Ttl = 10)]
                public partial Task<Report> BuildAsync(string kind, CancellationToken ct);

                private Task<Report> BuildAsyncCore(string kind, CancellationToken ct) => Task.FromResult(new Report(kind));
            }
            """, ["Reports.BuildAsync.g.cs"]);
    }

    [Fact]
    public void Semaphore_skip_when_busy()
    {
        // No explicit wait with Skip: one attempt (0), as for [EtcdLock]; an explicit wait is kept.
        Verify("""
            namespace Shop;

            public partial class Thumbnails(IEtcdLockProvider locks)
            {
                [EtcdSemaphore("/thumbnails", MaxCount = 4, WhenBusy = LockBusyBehavior.Skip)]
                public partial ValueTask<bool> RenderAsync(Guid image, CancellationToken ct);

                [EtcdSemaphore("/thumbnails/slow", MaxCount = 1, WaitTimeoutMilliseconds = 500, WhenBusy = LockBusyBehavior.Skip)]
                public partial Task RenderSlowAsync(Guid image, CancellationToken ct);

                private ValueTask<bool> RenderAsyncCore(Guid image, CancellationToken ct) => new(true);

                private Task RenderSlowAsyncCore(Guid image, CancellationToken ct) => Task.CompletedTask;
            }
            """, ["Thumbnails.RenderAsync.g.cs", "Thumbnails.RenderSlowAsync.g.cs"]);
    }

    [Fact]
    public void Read_and_write_locks()
    {
        Verify("""
            namespace Shop;

            public partial class Catalog(IEtcdLockProvider locks)
            {
                [EtcdReadLock("/catalog/<section>", Ttl = 5)]
                public partial ValueTask<int> CountAsync(string section, CancellationToken ct);

                [EtcdWriteLock("/catalog/<section>", WaitTimeoutMilliseconds = 2000)]
                public partial Task RebuildAsync(string section, CancellationToken ct);

                [EtcdWriteLock("/catalog/<section>", WhenBusy = LockBusyBehavior.Skip)]
                public partial Task TryRebuildAsync(string section);

                private ValueTask<int> CountAsyncCore(string section, CancellationToken ct) => new(1);

                private Task RebuildAsyncCore(string section, CancellationToken ct) => Task.CompletedTask;

                private Task TryRebuildAsyncCore(string section) => Task.CompletedTask;
            }
            """, ["Catalog.CountAsync.g.cs", "Catalog.RebuildAsync.g.cs", "Catalog.TryRebuildAsync.g.cs"]);
    }

    [Fact]
    public void Leader_BackgroundService()
    {
        // The test compilations do not reference Microsoft.Extensions.Hosting.Abstractions; this stand-in has the same
        // ExecuteAsync shape (protected abstract Task ExecuteAsync(CancellationToken)). The real one compiles the same way.
        Verify("""
            namespace Microsoft.Extensions.Hosting
            {
                public abstract class BackgroundService
                {
                    protected abstract Task ExecuteAsync(CancellationToken stoppingToken);
                }
            }

            namespace Shop
            {
                using Microsoft.Extensions.Hosting;

                public sealed partial class CleanupWorker(IEtcdLockProvider locks) : BackgroundService
                {
                    [EtcdLeader("/leaders/cleanup", Ttl = 10)]
                    protected override partial Task ExecuteAsync(CancellationToken stoppingToken);

                    private async Task ExecuteAsyncCore(CancellationToken stoppingToken)
                    {
                        while (!stoppingToken.IsCancellationRequested)
                        {
                            await Task.Delay(1000, stoppingToken);
                        }
                    }
                }
            }
            """, ["CleanupWorker.ExecuteAsync.g.cs"]);
    }

    [Fact]
    public void Leader_with_key_placeholders_and_other_arguments()
    {
        Verify("""
            namespace Shop;

            public static partial class Regions
            {
                public static IEtcdLockProvider Locks { get; set; } = null!;

                [EtcdLeader("/leaders/<region>/<shard>")]
                public static partial Task LeadAsync<TShard>(string region, TShard shard, CancellationToken __leading, int batch)
                    where TShard : IFormattable;

                private static Task LeadAsyncCore<TShard>(string region, TShard shard, CancellationToken __leading, int batch)
                    where TShard : IFormattable
                    => Task.Delay(batch, __leading);
            }
            """, ["Regions.LeadAsync{TShard}.g.cs"]);
    }

    private static void Verify(string source, string[] hintNames, [CallerMemberName] string testName = "")
    {
        GeneratorOutcome outcome = TestCompilation.Run(TestCompilation.Usings + source);
        outcome.AssertCompilesCleanly();
        Assert.Equal(hintNames.Order(), outcome.Sources.Select(s => s.HintName).Order());
        foreach (var generated in outcome.Sources)
        {
            Assert.StartsWith("// <auto-generated/>\n#nullable enable\n", generated.SourceText.ToString(), StringComparison.Ordinal);
        }

        Snapshot.Match(outcome.AllSources(), testName);
    }
}
