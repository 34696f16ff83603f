using System.Globalization;
using AttributeLock;
using OrderService.Journal;
using OrderService.Worker;

namespace OrderService.Orders;

/// <summary>A customer's account: how many payments were credited and the balance in cents.</summary>
/// <param name="Credits">Credited payments.</param>
/// <param name="BalanceCents">The balance.</param>
public sealed record CustomerAccount(int Credits, long BalanceCents)
{
    /// <summary>The account after crediting <paramref name="amountCents"/>.</summary>
    /// <param name="amountCents">The amount.</param>
    /// <returns>The new account.</returns>
    public CustomerAccount Credit(long amountCents) => new(Credits + 1, BalanceCents + amountCents);

    /// <summary>Stored form: <c>credits balance</c>.</summary>
    /// <returns>The text.</returns>
    public string Format() => $"{Credits.ToString(CultureInfo.InvariantCulture)} {BalanceCents.ToString(CultureInfo.InvariantCulture)}";

    /// <summary>Reads the stored form; <c>null</c> is an empty account.</summary>
    /// <param name="text">The stored text.</param>
    /// <returns>The account.</returns>
    public static CustomerAccount Parse(string? text)
    {
        if (string.IsNullOrEmpty(text))
        {
            return new CustomerAccount(0, 0);
        }

        string[] parts = text.Split(' ');
        return new CustomerAccount(int.Parse(parts[0], CultureInfo.InvariantCulture), long.Parse(parts[1], CultureInfo.InvariantCulture));
    }
}

/// <summary>A catalog item's price: how many updates it had and the price in cents.</summary>
/// <param name="Updates">Applied price updates.</param>
/// <param name="Cents">The price.</param>
public sealed record CatalogPrice(int Updates, long Cents)
{
    /// <summary>Stored form: <c>updates cents</c>.</summary>
    /// <returns>The text.</returns>
    public string Format() => $"{Updates.ToString(CultureInfo.InvariantCulture)} {Cents.ToString(CultureInfo.InvariantCulture)}";

    /// <summary>Reads the stored form; <c>null</c> is the list price before any update (1000 cents).</summary>
    /// <param name="text">The stored text.</param>
    /// <returns>The price.</returns>
    public static CatalogPrice Parse(string? text)
    {
        if (string.IsNullOrEmpty(text))
        {
            return new CatalogPrice(0, 1_000);
        }

        string[] parts = text.Split(' ');
        return new CatalogPrice(int.Parse(parts[0], CultureInfo.InvariantCulture), long.Parse(parts[1], CultureInfo.InvariantCulture));
    }
}

/// <summary>
/// The service's state in etcd. Reads are plain; every write of data that a lock protects goes out in one transaction
/// with the holder's journal exit entry, so the journal counts exactly the writes that happened. By default that
/// transaction is a guarded write (<see cref="EtcdLockHandle.WriteIfHeldAsync"/> on the hold's handle): etcd applies it
/// only while the hold still owns its lock key (the key's create revision equals the hold's fencing token), checked
/// inside etcd at the moment of the write. A holder that was paused past its lease and lost the key gets
/// <see cref="EtcdLockNotHeldException"/> and writes nothing. With <see cref="WorkerSettings.GuardedWrites"/> off (the
/// demo's <c>--unguarded</c>) the same transaction has no condition: a plain put that lands whoever holds the lock.
/// </summary>
/// <param name="kv">The etcd connection.</param>
/// <param name="keys">The run's data keys.</param>
/// <param name="journal">The audit trail.</param>
/// <param name="settings">Guarded or plain writes.</param>
public sealed class OrderStore(EtcdKv kv, DataKeys keys, HoldJournal journal, WorkerSettings settings)
{
    /// <summary>Reads an order's number of captured payments.</summary>
    /// <param name="orderId">The order.</param>
    /// <param name="ct">Cancels the read.</param>
    /// <returns>The number.</returns>
    public async Task<int> ReadPaymentsAsync(int orderId, CancellationToken ct) =>
        ParseInt((await kv.GetAsync(keys.Payments(orderId), ct))?.Value.ToStringUtf8());

    /// <summary>Writes an order's number of captured payments and the hold's exit entry (under the order's lock).</summary>
    /// <param name="orderId">The order.</param>
    /// <param name="payments">The new number.</param>
    /// <param name="hold">The hold of the order's lock.</param>
    /// <returns>A task that completes when written.</returns>
    /// <exception cref="EtcdLockNotHeldException">Guarded: the hold no longer owns the order's lock; nothing was written.</exception>
    public Task WritePaymentsAsync(int orderId, int payments, HoldRecord hold) =>
        WriteAsync(hold, keys.Payments(orderId), payments.ToString(CultureInfo.InvariantCulture), $"payments {payments - 1}→{payments}");

    /// <summary>Reads a customer's account.</summary>
    /// <param name="customerId">The customer.</param>
    /// <param name="ct">Cancels the read.</param>
    /// <returns>The account.</returns>
    public async Task<CustomerAccount> ReadAccountAsync(string customerId, CancellationToken ct) =>
        CustomerAccount.Parse((await kv.GetAsync(keys.Account(customerId), ct))?.Value.ToStringUtf8());

    /// <summary>Writes a customer's account and the hold's exit entry (under the customer's lock).</summary>
    /// <param name="customerId">The customer.</param>
    /// <param name="account">The new account.</param>
    /// <param name="hold">The hold of the customer's lock.</param>
    /// <returns>A task that completes when written.</returns>
    /// <exception cref="EtcdLockNotHeldException">Guarded: the hold no longer owns the customer's lock; nothing was written.</exception>
    public Task WriteAccountAsync(string customerId, CustomerAccount account, HoldRecord hold) =>
        WriteAsync(hold, keys.Account(customerId), account.Format(), $"credits {account.Credits - 1}→{account.Credits}");

    /// <summary>Reads the number of settlement runs.</summary>
    /// <param name="ct">Cancels the read.</param>
    /// <returns>The number.</returns>
    public async Task<int> ReadSettlementRunsAsync(CancellationToken ct) =>
        ParseInt((await kv.GetAsync(keys.SettlementRuns, ct))?.Value.ToStringUtf8());

    /// <summary>Writes the number of settlement runs and the hold's exit entry (under the settlement job's lock).</summary>
    /// <param name="runs">The new number.</param>
    /// <param name="hold">The hold of the job's lock.</param>
    /// <returns>A task that completes when written.</returns>
    /// <exception cref="EtcdLockNotHeldException">Guarded: the hold no longer owns the job's lock; nothing was written.</exception>
    public Task WriteSettlementRunsAsync(int runs, HoldRecord hold) =>
        WriteAsync(hold, keys.SettlementRuns, runs.ToString(CultureInfo.InvariantCulture), $"settlement run {runs}");

    /// <summary>Writes a finished settlement report and the ticket's exit entry (under a ticket of the reports' semaphore).</summary>
    /// <param name="hold">The ticket.</param>
    /// <returns>A task that completes when written.</returns>
    /// <exception cref="EtcdLockNotHeldException">Guarded: the ticket is no longer held; nothing was written.</exception>
    public Task WriteReportAsync(HoldRecord hold) =>
        WriteAsync(hold, JournalEvent.Exit, "report written", (keys.Report(hold.Token), settings.Name));

    /// <summary>Reads a catalog item's price.</summary>
    /// <param name="sku">The item.</param>
    /// <param name="ct">Cancels the read.</param>
    /// <returns>The price.</returns>
    public async Task<CatalogPrice> ReadPriceAsync(string sku, CancellationToken ct) =>
        CatalogPrice.Parse((await kv.GetAsync(keys.Price(sku), ct))?.Value.ToStringUtf8());

    /// <summary>Writes a catalog item's price and the hold's exit entry (under the item's write lock).</summary>
    /// <param name="sku">The item.</param>
    /// <param name="price">The new price.</param>
    /// <param name="hold">The write hold.</param>
    /// <returns>A task that completes when written.</returns>
    /// <exception cref="EtcdLockNotHeldException">Guarded: the hold no longer owns its key; nothing was written.</exception>
    public Task WritePriceAsync(string sku, CatalogPrice price, HoldRecord hold) =>
        WriteAsync(hold, JournalEvent.Exit, $"price update {price.Updates - 1}→{price.Updates}: {price.Cents} cents", (keys.Price(sku), price.Format()));

    /// <summary>Writes a read hold's exit entry alone (the read wrote nothing), guarded like a data write: it proves the
    /// read hold was still held at that revision.</summary>
    /// <param name="hold">The read hold.</param>
    /// <param name="detail">What was read.</param>
    /// <returns>A task that completes when written.</returns>
    /// <exception cref="EtcdLockNotHeldException">Guarded: the hold no longer owns its key.</exception>
    public Task WriteReadExitAsync(HoldRecord hold, string detail) => WriteAsync(hold, JournalEvent.Exit, detail);

    /// <summary>Reads the settlement leader's counter.</summary>
    /// <param name="ct">Cancels the read.</param>
    /// <returns>The number of settlements and the fencing token of the leader that wrote the last one.</returns>
    public async Task<(int Count, long Token)> ReadSettlementCounterAsync(CancellationToken ct) =>
        ParseCounter((await kv.GetAsync(keys.SettlementCounter, ct))?.Value.ToStringUtf8());

    /// <summary>
    /// Writes the settlement leader's counter (<c>n token</c>) and the <see cref="JournalEvent.Settle"/> entry, guarded by
    /// the leadership: etcd applies it only while <paramref name="leadership"/>'s candidate key is still the leader's.
    /// </summary>
    /// <param name="count">The new count.</param>
    /// <param name="leadership">The leadership.</param>
    /// <returns>A task that completes when written.</returns>
    /// <exception cref="EtcdLockNotHeldException">Guarded: this worker no longer leads; nothing was written.</exception>
    public Task WriteSettlementCounterAsync(int count, HoldRecord leadership) =>
        WriteAsync(leadership, JournalEvent.Settle, count.ToString(CultureInfo.InvariantCulture),
            (keys.SettlementCounter, $"{count.ToString(CultureInfo.InvariantCulture)} {leadership.Token.ToString(CultureInfo.InvariantCulture)}"));

    /// <summary>Reads the settlement leader's counter text <c>n token</c>; a missing key is (0, 0).</summary>
    /// <param name="text">The stored text.</param>
    /// <returns>The count and the token.</returns>
    public static (int Count, long Token) ParseCounter(string? text)
    {
        if (string.IsNullOrEmpty(text))
        {
            return (0, 0);
        }

        string[] parts = text.Split(' ');
        return (int.Parse(parts[0], CultureInfo.InvariantCulture), long.Parse(parts[1], CultureInfo.InvariantCulture));
    }

    /// <summary>Reads a stored integer; a missing key is 0.</summary>
    /// <param name="text">The stored text.</param>
    /// <returns>The number.</returns>
    public static int ParseInt(string? text) => string.IsNullOrEmpty(text) ? 0 : int.Parse(text, CultureInfo.InvariantCulture);

    private Task WriteAsync(HoldRecord hold, string key, string value, string detail) =>
        WriteAsync(hold, JournalEvent.Exit, detail, (key, value));

    private async Task WriteAsync(HoldRecord hold, string kind, string detail, params (string Key, string Value)[] data)
    {
        (string Key, string Value)[] puts = [.. data, journal.Entry(kind, hold, detail)];
        if (!settings.GuardedWrites)
        {
            // Unguarded: lands whoever holds the lock now. The caller's cancellation check before it cannot close the gap.
            await kv.PutAllAsync(puts);
            return;
        }

        try
        {
            // Not cancellable on purpose: once the holder decided to write, the data and its journal entry go together,
            // and the answer (applied or refused) is certain.
            await hold.Handle.WriteIfHeldAsync([.. puts.Select(p => EtcdKv.Put(p.Key, p.Value))], CancellationToken.None);
        }
        catch (EtcdLockNotHeldException refused)
        {
            await journal.RefusedAsync(hold, detail, refused);
            throw;
        }
    }
}
