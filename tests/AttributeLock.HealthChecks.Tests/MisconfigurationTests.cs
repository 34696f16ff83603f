using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace AttributeLock.HealthChecks.Tests;

/// <summary>Invalid provider options: a host does not start, and a health check run anyway reports Unhealthy instead of throwing.</summary>
public sealed class MisconfigurationTests
{
    [Fact]
    public async Task The_check_reports_a_configuration_error_as_unhealthy_instead_of_throwing()
    {
        var services = new ServiceCollection().AddLogging().AddMetrics();
        services.AddEtcdLocks(o => o.DefaultTtlSeconds = 0); // and no endpoint
        services.AddHealthChecks().AddEtcdLocks();
        await using ServiceProvider sp = services.BuildServiceProvider();

        HealthReport report = await sp.GetRequiredService<HealthCheckService>().CheckHealthAsync();
        HealthReportEntry entry = report.Entries[EtcdLockHealthChecksBuilderExtensions.DefaultName];

        Assert.Equal(HealthStatus.Unhealthy, entry.Status);
        Assert.Contains("misconfigured", entry.Description);
        Assert.Contains("EtcdLockProviderOptions.Endpoints[0]", entry.Description);
        Assert.Contains("EtcdLockProviderOptions.DefaultTtlSeconds = 0", entry.Description);
        Assert.IsType<OptionsValidationException>(entry.Exception);
    }

    [Fact]
    public async Task A_host_with_a_malformed_endpoint_does_not_start()
    {
        HostApplicationBuilder builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?> { ["EtcdLocks:Endpoints:0"] = "localhost:2379x" });
        builder.Services.AddEtcdLocks(builder.Configuration.GetSection("EtcdLocks"));
        builder.Services.AddHealthChecks().AddEtcdLocks();
        using IHost host = builder.Build();

        var ex = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync());

        Assert.Contains("EtcdLocks:Endpoints:0 = 'localhost:2379x'", ex.Message);
    }
}
