using AttributeLock;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using OrderService.Journal;
using OrderService.Orders;

namespace OrderService.Worker;

/// <summary>Takes payments: up to <see cref="Workload.MaxHandlers"/> handlers each capturing one payment after the other.</summary>
/// <param name="processor">The locked operations.</param>
/// <param name="journal">Announces calls (for wait reports).</param>
/// <param name="workload">The pace.</param>
/// <param name="logger">Errors.</param>
public sealed class OrderIntake(OrderProcessor processor, HoldJournal journal, Workload workload, ILogger<OrderIntake> logger) : BackgroundService
{
    /// <inheritdoc />
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        await journal.ReadyAsync(stoppingToken);
        await Task.WhenAll(Enumerable.Range(0, Workload.MaxHandlers).Select(h => Task.Run(() => HandleAsync(h, stoppingToken), CancellationToken.None)));
    }

    private async Task HandleAsync(int handler, CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                if (handler >= workload.Handlers)
                {
                    await Task.Delay(50, stoppingToken);
                    continue;
                }

                int orderId;
                if (workload.IsLoad)
                {
                    orderId = Random.Shared.Next(1, workload.Orders + 1);
                }
                else
                {
                    // Slow motion: every worker takes the same order at the same wall-clock second, so they contend.
                    // A worker about to hang (the demo's crash) starts 80 ms early, so that the others queue behind it.
                    long now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() + (workload.LongCallArmed ? 80 : 0);
                    await Task.Delay(TimeSpan.FromMilliseconds(1000 - (now % 1000)), stoppingToken);
                    orderId = 1 + (int)(((now / 1000) + 1) % workload.SlowOrders);
                }

                using (journal.Calling($"/orders/{orderId}"))
                {
                    // A payment that started is finished even when the service is stopping: no token here.
                    await processor.CapturePaymentAsync(orderId, CancellationToken.None);
                }
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (EtcdLockNotHeldException ex)
            {
                // etcd refused the write of a hold that had lost its lock (journaled): nothing was written, the payment
                // was not captured. Not an error of this node: the next payment goes on.
                logger.LogInformation("{Message}", ex.Message);
            }
            catch (Exception ex)
            {
                logger.LogError(ex, "Payment handler {Handler} failed; retrying", handler);
                await Task.Delay(500, CancellationToken.None);
            }
        }
    }
}
