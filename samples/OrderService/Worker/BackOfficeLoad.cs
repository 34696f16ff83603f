using AttributeLock;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using OrderService.Journal;
using OrderService.Orders;

namespace OrderService.Worker;

/// <summary>
/// The back office's traffic on every node: now and then a settlement report (in the background, so that reports of
/// one node can run side by side), catalog reads and, less often, price updates, on <see cref="Workload.Skus"/>. On the
/// coordinator's <c>showcase</c> it starts two long reports and two long reads of <c>SKU-1</c> at once (and with
/// <c>showcase-update</c> a price update of <c>SKU-1</c> right after), so that the timeline shows a report and the
/// update waiting.
/// </summary>
/// <param name="office">The locked operations.</param>
/// <param name="journal">Announces calls (for wait reports).</param>
/// <param name="workload">The pace.</param>
/// <param name="logger">Errors.</param>
public sealed class BackOfficeLoad(BackOffice office, HoldJournal journal, Workload workload, ILogger<BackOfficeLoad> logger) : BackgroundService
{
    /// <inheritdoc />
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var running = new List<Task>();
        int turn = Random.Shared.Next(10);
        while (!stoppingToken.IsCancellationRequested)
        {
            running.RemoveAll(t => t.IsCompleted);
            int showcase = workload.TakeShowcase();
            if (showcase != 0)
            {
                // Every worker gets the showcase at once: the first reports of two workers take the two tickets side by
                // side, the second ones (100 ms later) wait.
                running.Add(Run("/reports/settlement", () => office.BuildSettlementReportAsync(Workload.ShowcaseCall, CancellationToken.None)));
                running.Add(Run("/catalog/SKU-1", () => office.ReadPriceAsync("SKU-1", Workload.ShowcaseCall, CancellationToken.None)));
                await Task.Delay(100, CancellationToken.None);
                running.Add(Run("/reports/settlement", () => office.BuildSettlementReportAsync(Workload.ShowcaseCall, CancellationToken.None)));
                running.Add(Run("/catalog/SKU-1", () => office.ReadPriceAsync("SKU-1", Workload.ShowcaseCall, CancellationToken.None)));
                if (showcase == 2)
                {
                    await Task.Delay(50, CancellationToken.None);
                    running.Add(Run("/catalog/SKU-1", () => office.UpdatePriceAsync("SKU-1", workload.PriceUpdateCall, CancellationToken.None)));
                }
            }

            // The pause between two operations; a showcase ends it at once (handled at the top of the loop).
            Task pause = Task.Delay(workload.BackOfficePause, stoppingToken);
            await Task.WhenAny(pause, workload.ShowcaseSignal);
            if (stoppingToken.IsCancellationRequested)
            {
                break;
            }

            if (!pause.IsCompleted)
            {
                continue;
            }

            turn++;
            string sku = Workload.Skus[Random.Shared.Next(Workload.Skus.Count)];
            if (turn % 6 == 0 && running.Count < 3)
            {
                // A report runs in the background: the next reads go on meanwhile.
                running.Add(Run("/reports/settlement", () => office.BuildSettlementReportAsync(Workload.ReportRun, CancellationToken.None)));
            }
            else if (turn % 4 == 0)
            {
                running.Add(Run($"/catalog/{sku}", () => office.UpdatePriceAsync(sku, workload.PriceUpdateCall, CancellationToken.None)));
            }
            else
            {
                running.Add(Run($"/catalog/{sku}", () => office.ReadPriceAsync(sku, workload.CatalogRead, CancellationToken.None)));
            }
        }

        // A report or read that started is finished (no token inside): wait for them, then the host stops.
        await Task.WhenAll(running);
    }

    private Task Run(string key, Func<Task> operation) => Task.Run(async () =>
    {
        try
        {
            using (journal.Calling(key))
            {
                await operation();
            }
        }
        catch (EtcdLockNotHeldException ex)
        {
            // etcd refused the write of a hold that had lost its key (journalled): nothing was written.
            logger.LogInformation("{Message}", ex.Message);
        }
        catch (Exception ex)
        {
            logger.LogError(ex, "Back-office operation on {Key} failed", key);
        }
    });
}
