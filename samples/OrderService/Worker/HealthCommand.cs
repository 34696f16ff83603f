using AttributeLock;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace OrderService.Worker;

/// <summary>
/// <c>OrderService --health</c> (or <c>./run-demo.sh --health</c>): the lock provider's health check, the same one a
/// worker registers (<c>AddHealthChecks().AddEtcdLocks()</c>), run once and printed; usable as a container's exec probe.
/// </summary>
public static class HealthCommand
{
    /// <summary>Runs the health checks once.</summary>
    /// <returns>0 when healthy or degraded, 1 when unhealthy.</returns>
    public static async Task<int> RunAsync()
    {
        HostApplicationBuilder builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { ContentRootPath = AppContext.BaseDirectory });
        builder.Logging.ClearProviders();
        builder.Services.AddEtcdLocks(builder.Configuration.GetSection(SampleSettings.LocksSection), o => SampleSettings.ApplyEndpoints(o));
        builder.Services.AddHealthChecks().AddEtcdLocks();
        using IHost host = builder.Build();

        HealthReport report = await host.Services.GetRequiredService<HealthCheckService>().CheckHealthAsync();
        foreach ((string name, HealthReportEntry entry) in report.Entries)
        {
            Console.WriteLine($"{name}: {entry.Status} - {entry.Description}");
            foreach ((string key, object value) in entry.Data)
            {
                Console.WriteLine($"  {key} = {value}");
            }
        }

        Console.WriteLine($"health: {report.Status} ({report.TotalDuration.TotalMilliseconds:0} ms)");
        return report.Status == HealthStatus.Unhealthy ? 1 : 0;
    }
}
