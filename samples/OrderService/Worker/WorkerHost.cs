using AttributeLock;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using OrderService.Journal;
using OrderService.Orders;

namespace OrderService.Worker;

/// <summary>The order service itself: a Generic Host with the lock provider, the store and the background services.</summary>
public static class WorkerHost
{
    /// <summary>Runs one worker until it is told to stop (or its standard input ends).</summary>
    /// <param name="settings">The worker's command line.</param>
    /// <returns>The exit code.</returns>
    public static async Task<int> RunAsync(WorkerSettings settings)
    {
        HostApplicationBuilder builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings
        {
            ContentRootPath = AppContext.BaseDirectory,
        });
        builder.Logging.AddConsole(o => o.LogToStandardErrorThreshold = LogLevel.Trace);

        // The lock provider: endpoints, key prefix and TTL from appsettings.json / environment; ETCD_ENDPOINTS wins.
        builder.Services.AddEtcdLocks(builder.Configuration.GetSection(SampleSettings.LocksSection), o => SampleSettings.Apply(o, settings.Run));

        // Its health (etcd reachable, no hold lost in the last 5 minutes), as `OrderService --health` prints it.
        builder.Services.AddHealthChecks().AddEtcdLocks();

        builder.Services.AddSingleton(settings);
        builder.Services.AddSingleton(SampleSettings.Keys(builder.Configuration, settings.Run));
        builder.Services.AddSingleton(new OrderCatalog(SampleSettings.Customers(builder.Configuration)));
        builder.Services.AddSingleton(sp => new EtcdKv(SampleSettings.Endpoints(sp.GetRequiredService<IOptions<EtcdLockProviderOptions>>().Value)));
        builder.Services.AddSingleton<Workload>();
        builder.Services.AddSingleton<HoldJournal>();
        builder.Services.AddSingleton<OrderStore>();
        builder.Services.AddSingleton<OrderProcessor>();
        builder.Services.AddSingleton<BackOffice>();
        builder.Services.AddHostedService<ControlChannel>();
        builder.Services.AddHostedService<OrderIntake>();
        builder.Services.AddHostedService<SettlementScheduler>();
        builder.Services.AddHostedService<SettlementLeader>();
        builder.Services.AddHostedService<BackOfficeLoad>();

        using IHost host = builder.Build();
        await host.RunAsync();
        return 0;
    }
}
