using AttributeLock;
using OrderService.Journal;

namespace OrderService.Orders;

/// <summary>
/// The back office's operations, under the other coordination attributes: settlement reports under a semaphore (at
/// most two at once across all nodes: they are heavy on the ledger), catalog reads under the read side and price
/// updates under the write side of a reader-writer lock per item (reads side by side, an update alone). Every hold is
/// journalled like the order locks' (enter with the ticket's key and fencing token, exit in the same etcd transaction
/// as the hold's write, guarded by the hold).
/// </summary>
/// <param name="locks">The lock provider the generated wrappers use.</param>
/// <param name="store">Reports and prices.</param>
/// <param name="journal">The demo's audit trail.</param>
public partial class BackOffice(IEtcdLockProvider locks, OrderStore store, HoldJournal journal)
{
    /// <summary>The settlement reports' semaphore: how many may run at once across all nodes.</summary>
    public const int ReportSlots = 2;

    /// <summary>
    /// Builds one settlement report: one of <see cref="ReportSlots"/> tickets of <c>/reports/settlement</c>; a call that
    /// finds both taken waits for one (first come, first served across the nodes).
    /// </summary>
    /// <param name="duration">How long the report takes.</param>
    /// <param name="cancellationToken">Ends the wait; inside, also cancelled if the ticket is lost.</param>
    /// <returns>A task that completes when the report is written.</returns>
    [EtcdSemaphore("/reports/settlement", MaxCount = ReportSlots, Ttl = 5)]
    public partial Task BuildSettlementReportAsync(TimeSpan duration, CancellationToken cancellationToken);

    private async Task BuildSettlementReportAsyncCore(TimeSpan duration, CancellationToken cancellationToken)
    {
        HoldRecord hold = await journal.EnterAsync("", cancellationToken);
        await Task.Delay(duration, cancellationToken);
        cancellationToken.ThrowIfCancellationRequested();
        await store.WriteReportAsync(hold);
    }

    /// <summary>Reads a catalog item's price under the item's read lock: readers run side by side, never beside an update.</summary>
    /// <param name="sku">The item.</param>
    /// <param name="duration">How long the read holds the lock.</param>
    /// <param name="cancellationToken">Ends the wait; inside, also cancelled if the hold is lost.</param>
    /// <returns>The price in cents.</returns>
    [EtcdReadLock("/catalog/<sku>")]
    public partial Task<long> ReadPriceAsync(string sku, TimeSpan duration, CancellationToken cancellationToken);

    private async Task<long> ReadPriceAsyncCore(string sku, TimeSpan duration, CancellationToken cancellationToken)
    {
        CatalogPrice price = new(0, 0);
        HoldRecord hold = await journal.EnterAsync("", async ct =>
        {
            price = await store.ReadPriceAsync(sku, ct);
            return $"price {price.Cents} (update {price.Updates})";
        }, cancellationToken);
        await Task.Delay(duration, cancellationToken);
        cancellationToken.ThrowIfCancellationRequested();
        await store.WriteReadExitAsync(hold, $"read price {price.Cents}");
        return price.Cents;
    }

    /// <summary>
    /// Changes a catalog item's price under the item's write lock: alone, beside no reader and no other update. A
    /// read-modify-write (read, think, write) whose write is guarded, so a lost update would show in the counter.
    /// </summary>
    /// <param name="sku">The item.</param>
    /// <param name="duration">How long the update takes between its read and its write.</param>
    /// <param name="cancellationToken">Ends the wait; inside, also cancelled if the hold is lost.</param>
    /// <returns>A task that completes when the price is written.</returns>
    [EtcdWriteLock("/catalog/<sku>")]
    public partial Task UpdatePriceAsync(string sku, TimeSpan duration, CancellationToken cancellationToken);

    private async Task UpdatePriceAsyncCore(string sku, TimeSpan duration, CancellationToken cancellationToken)
    {
        CatalogPrice price = new(0, 0);
        HoldRecord hold = await journal.EnterAsync("", async ct =>
        {
            price = await store.ReadPriceAsync(sku, ct);
            return $"price {price.Cents} (update {price.Updates})";
        }, cancellationToken);
        await Task.Delay(duration, cancellationToken);
        cancellationToken.ThrowIfCancellationRequested();
        long delta = Random.Shared.Next(-20, 21) * 5;
        await store.WritePriceAsync(sku, new CatalogPrice(price.Updates + 1, Math.Max(100, price.Cents + delta)), hold);
    }
}
