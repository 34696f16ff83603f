using AttributeLock;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using OrderService.Journal;
using OrderService.Orders;

namespace OrderService.Worker;

/// <summary>
/// Starts the settlement job at the same wall-clock moments on every node (every <see cref="Workload.SettlementEvery"/>),
/// like a cron entry deployed to each replica. The job's lock lets one node run it; the others skip their turn.
/// </summary>
/// <param name="processor">The locked operations.</param>
/// <param name="journal">Records skipped turns.</param>
/// <param name="workload">The schedule.</param>
/// <param name="logger">Errors.</param>
public sealed class SettlementScheduler(OrderProcessor processor, HoldJournal journal, Workload workload, ILogger<SettlementScheduler> logger) : BackgroundService
{
    /// <inheritdoc />
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            // Half a second past every period's start (the order handlers' slow-motion ticks are on the second).
            long every = (long)workload.SettlementEvery.TotalMilliseconds;
            long now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() - 500;
            try
            {
                await Task.Delay(TimeSpan.FromMilliseconds(every - (now % every)), stoppingToken);
                if (!await processor.RunSettlementAsync(CancellationToken.None))
                {
                    await journal.SkippedAsync("/jobs/settlement", CancellationToken.None);
                }
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (EtcdLockNotHeldException ex)
            {
                // etcd refused the run's write: the hold had lost its lock (journaled); nothing was written.
                logger.LogInformation("{Message}", ex.Message);
            }
            catch (Exception ex)
            {
                logger.LogError(ex, "Settlement failed");
            }
        }
    }
}
