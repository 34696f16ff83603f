using System.Globalization;
using OrderService.Journal;

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

/// <summary>
/// The service's state in etcd: plain reads and plain writes, no compare-and-swap. Every write goes out in one
/// transaction with the holder's journal exit entry, so the journal counts exactly the writes that happened.
/// </summary>
/// <param name="kv">The etcd connection.</param>
/// <param name="keys">The run's data keys.</param>
/// <param name="journal">The audit trail.</param>
public sealed class OrderStore(EtcdKv kv, DataKeys keys, HoldJournal journal)
{
    /// <summary>Reads an order's number of captured payments.</summary>
    /// <param name="orderId">The order.</param>
    /// <param name="ct">Cancels the read.</param>
    /// <returns>The number.</returns>
    public async Task<int> ReadPaymentsAsync(int orderId, CancellationToken ct) =>
        ParseInt((await kv.GetAsync(keys.Payments(orderId), ct))?.Value.ToStringUtf8());

    /// <summary>Writes an order's number of captured payments and the hold's exit entry.</summary>
    /// <param name="orderId">The order.</param>
    /// <param name="payments">The new number.</param>
    /// <param name="hold">The hold that writes.</param>
    /// <param name="ct">Checked before the write.</param>
    /// <returns>A task that completes when written.</returns>
    public Task WritePaymentsAsync(int orderId, int payments, HoldRecord hold, CancellationToken ct)
    {
        ct.ThrowIfCancellationRequested();
        return kv.PutAllAsync(
            (keys.Payments(orderId), payments.ToString(CultureInfo.InvariantCulture)),
            journal.Exit(hold, $"payments {payments - 1}→{payments}"));
    }

    /// <summary>Reads a customer's account.</summary>
    /// <param name="customerId">The customer.</param>
    /// <param name="ct">Cancels the read.</param>
    /// <returns>The account.</returns>
    public async Task<CustomerAccount> ReadAccountAsync(string customerId, CancellationToken ct) =>
        CustomerAccount.Parse((await kv.GetAsync(keys.Account(customerId), ct))?.Value.ToStringUtf8());

    /// <summary>Writes a customer's account and the hold's exit entry.</summary>
    /// <param name="customerId">The customer.</param>
    /// <param name="account">The new account.</param>
    /// <param name="hold">The hold that writes.</param>
    /// <param name="ct">Checked before the write.</param>
    /// <returns>A task that completes when written.</returns>
    public Task WriteAccountAsync(string customerId, CustomerAccount account, HoldRecord hold, CancellationToken ct)
    {
        ct.ThrowIfCancellationRequested();
        return kv.PutAllAsync(
            (keys.Account(customerId), account.Format()),
            journal.Exit(hold, $"credits {account.Credits - 1}→{account.Credits}"));
    }

    /// <summary>Reads the number of settlement runs.</summary>
    /// <param name="ct">Cancels the read.</param>
    /// <returns>The number.</returns>
    public async Task<int> ReadSettlementRunsAsync(CancellationToken ct) =>
        ParseInt((await kv.GetAsync(keys.SettlementRuns, ct))?.Value.ToStringUtf8());

    /// <summary>Writes the number of settlement runs and the hold's exit entry.</summary>
    /// <param name="runs">The new number.</param>
    /// <param name="hold">The hold that writes.</param>
    /// <param name="ct">Checked before the write.</param>
    /// <returns>A task that completes when written.</returns>
    public Task WriteSettlementRunsAsync(int runs, HoldRecord hold, CancellationToken ct)
    {
        ct.ThrowIfCancellationRequested();
        return kv.PutAllAsync(
            (keys.SettlementRuns, runs.ToString(CultureInfo.InvariantCulture)),
            journal.Exit(hold, $"settlement run {runs}"));
    }

    /// <summary>Reads a stored integer; a missing key is 0.</summary>
    /// <param name="text">The stored text.</param>
    /// <returns>The number.</returns>
    public static int ParseInt(string? text) => string.IsNullOrEmpty(text) ? 0 : int.Parse(text, CultureInfo.InvariantCulture);
}
