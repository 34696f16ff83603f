using System.Globalization;
using AttributeLock;
using Microsoft.Extensions.Configuration;

namespace OrderService;

/// <summary>
/// Configuration shared by the worker and the demo coordinator: <c>appsettings.json</c> next to the binary, then
/// environment variables (<c>EtcdLocks__KeyPrefix</c> sets <c>EtcdLocks:KeyPrefix</c>), then <c>ETCD_ENDPOINTS</c>,
/// which replaces the configured endpoints. Each demo run gets its own key space below the configured prefixes.
/// </summary>
public static class SampleSettings
{
    /// <summary>The configuration section of the lock provider.</summary>
    public const string LocksSection = "EtcdLocks";

    /// <summary>Loads the configuration the way the worker's host does (file, then environment).</summary>
    /// <returns>The configuration.</returns>
    public static IConfiguration Load() => new ConfigurationBuilder()
        .SetBasePath(AppContext.BaseDirectory)
        .AddJsonFile("appsettings.json", optional: false)
        .AddEnvironmentVariables()
        .Build();

    /// <summary>Applies <c>ETCD_ENDPOINTS</c> and the run's own key prefix to bound provider options.</summary>
    /// <param name="options">Options bound from <see cref="LocksSection"/>.</param>
    /// <param name="run">The demo run's id.</param>
    public static void Apply(EtcdLockProviderOptions options, string run)
    {
        ApplyEndpoints(options);
        options.KeyPrefix = options.KeyPrefix.TrimEnd('/') + "/" + run;
    }

    /// <summary>Applies <c>ETCD_ENDPOINTS</c>, when set, to bound provider options.</summary>
    /// <param name="options">Options bound from <see cref="LocksSection"/>.</param>
    public static void ApplyEndpoints(EtcdLockProviderOptions options)
    {
        string? endpoints = Environment.GetEnvironmentVariable("ETCD_ENDPOINTS");
        if (!string.IsNullOrWhiteSpace(endpoints))
        {
            options.Endpoints = [endpoints];
        }
    }

    /// <summary>The provider options a worker of <paramref name="run"/> uses, read without a host (the coordinator's view).</summary>
    /// <param name="configuration">The configuration.</param>
    /// <param name="run">The demo run's id.</param>
    /// <returns>The options.</returns>
    public static EtcdLockProviderOptions LockOptions(IConfiguration configuration, string run)
    {
        EtcdLockProviderOptions options = configuration.GetSection(LocksSection).BindEtcdLockOptions(new EtcdLockProviderOptions());
        Apply(options, run);
        return options;
    }

    /// <summary>The data keys of one run.</summary>
    /// <param name="configuration">The configuration (<c>OrderService:DataPrefix</c>).</param>
    /// <param name="run">The demo run's id.</param>
    /// <returns>The keys.</returns>
    public static DataKeys Keys(IConfiguration configuration, string run) =>
        new((configuration["OrderService:DataPrefix"] ?? "/orderservice/data").TrimEnd('/') + "/" + run);

    /// <summary>How many customers the order book has (<c>OrderService:Customers</c>).</summary>
    /// <param name="configuration">The configuration.</param>
    /// <returns>The number of customers.</returns>
    public static int Customers(IConfiguration configuration) =>
        int.TryParse(configuration["OrderService:Customers"], NumberStyles.Integer, CultureInfo.InvariantCulture, out int n) && n > 0 ? n : 3;

    /// <summary>The endpoints as one comma-separated string.</summary>
    /// <param name="options">The provider options.</param>
    /// <returns>The endpoints.</returns>
    public static string Endpoints(EtcdLockProviderOptions options) => string.Join(",", options.Endpoints);
}

/// <summary>Where the sample keeps its data and journal in etcd, below one run's root.</summary>
/// <param name="Root">The run's root, for example <c>/orderservice/data/run-…</c>.</param>
public sealed record DataKeys(string Root)
{
    /// <summary>The number of captured payments of an order.</summary>
    /// <param name="orderId">The order.</param>
    /// <returns>The key.</returns>
    public string Payments(int orderId) => $"{Root}/orders/{orderId.ToString(CultureInfo.InvariantCulture)}/payments";

    /// <summary>Prefix of all orders' keys.</summary>
    public string OrdersPrefix => $"{Root}/orders/";

    /// <summary>The account (credits and balance) of a customer.</summary>
    /// <param name="customerId">The customer.</param>
    /// <returns>The key.</returns>
    public string Account(string customerId) => $"{Root}/customers/{customerId}/account";

    /// <summary>Prefix of all customers' keys.</summary>
    public string CustomersPrefix => $"{Root}/customers/";

    /// <summary>The number of settlement runs.</summary>
    public string SettlementRuns => $"{Root}/jobs/settlement/runs";

    /// <summary>One settlement report, named after its semaphore ticket's fencing token (written under the ticket).</summary>
    /// <param name="token">The ticket's fencing token.</param>
    /// <returns>The key.</returns>
    public string Report(long token) => $"{ReportsPrefix}{token.ToString(CultureInfo.InvariantCulture)}";

    /// <summary>Prefix of all settlement reports.</summary>
    public string ReportsPrefix => $"{Root}/reports/settlement/";

    /// <summary>A catalog item's price: <c>updates priceCents</c> (written under the item's write lock).</summary>
    /// <param name="sku">The item.</param>
    /// <returns>The key.</returns>
    public string Price(string sku) => $"{CatalogPrefix}{sku}/price";

    /// <summary>Prefix of all catalog items' keys.</summary>
    public string CatalogPrefix => $"{Root}/catalog/";

    /// <summary>The settlement leader's counter: <c>n token</c> (written by the leader, guarded by its leadership).</summary>
    public string SettlementCounter => $"{Root}/jobs/settlement-leader/counter";

    /// <summary>Prefix of the journal of every worker.</summary>
    public string JournalPrefix => $"{Root}/journal/";

    /// <summary>Prefix of one worker's journal.</summary>
    /// <param name="worker">The worker's name.</param>
    /// <returns>The prefix.</returns>
    public string JournalOf(string worker) => $"{JournalPrefix}{worker}/";

    /// <summary>One journal entry's key; sequence numbers are zero-padded so that key order is write order.</summary>
    /// <param name="worker">The worker's name.</param>
    /// <param name="sequence">The worker's entry number.</param>
    /// <returns>The key.</returns>
    public string JournalEntry(string worker, long sequence) => $"{JournalOf(worker)}{sequence.ToString("D10", CultureInfo.InvariantCulture)}";
}
