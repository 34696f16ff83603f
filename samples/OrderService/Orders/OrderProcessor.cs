using AttributeLock;
using OrderService.Journal;
using OrderService.Worker;

namespace OrderService.Orders;

/// <summary>
/// The order service's business operations. Each one is a read-modify-write of state in a shared store (etcd here,
/// any database in real life) that is not atomic: it reads, talks to a slow outside system, then writes. Two nodes
/// running one of them for the same order at the same time would lose an update; the <c>[EtcdLock]</c> attribute
/// makes every call hold a distributed lock in etcd instead. The source generator writes the public methods'
/// bodies: format the key, acquire the lock through <paramref name="locks"/>, call the <c>...Core</c> method, release.
/// A lock alone cannot stop a holder that was paused past its lease from writing late, so the writes are guarded
/// (<see cref="OrderStore"/>): etcd applies them only while the hold still owns its key.
/// </summary>
/// <param name="locks">The lock provider the generated wrappers use.</param>
/// <param name="store">Payments, balances and settlements.</param>
/// <param name="catalog">The order book.</param>
/// <param name="journal">The demo's audit trail of every hold (enter and exit with the fencing token).</param>
/// <param name="workload">How long the simulated outside calls take.</param>
public partial class OrderProcessor(IEtcdLockProvider locks, OrderStore store, OrderCatalog catalog, HoldJournal journal, Workload workload)
{
    /// <summary>
    /// Captures one payment of an order and credits its customer. One lock per order: different orders run in parallel
    /// on any node, one order's payments one at a time. TTL: <c>EtcdLocks:DefaultTtlSeconds</c> from the configuration.
    /// </summary>
    /// <param name="orderId">The order.</param>
    /// <param name="cancellationToken">Ends the wait for the lock; inside, also cancelled if the hold is lost.</param>
    /// <returns>The order's number of captured payments afterwards.</returns>
    [EtcdLock("/orders/<orderId>")]
    public partial Task<int> CapturePaymentAsync(int orderId, CancellationToken cancellationToken);

    private async Task<int> CapturePaymentAsyncCore(int orderId, CancellationToken cancellationToken)
    {
        Order order = catalog.Get(orderId);
        TimeSpan waited = journal.WaitedForCurrentLock();
        bool longCall = workload.TakeLongCall(waited);
        bool pausePoint = !longCall && workload.TakePausePoint(waited);
        TimeSpan gatewayCall = longCall ? workload.LongCall : workload.GatewayCallFor(orderId);
        string note = longCall ? "slow gateway call"
            : pausePoint ? "stops at its write"
            : gatewayCall == Workload.SlowGatewayCall ? $"the gateway answers in {gatewayCall.TotalSeconds:0.0} s" : "";
        int payments = 0;
        HoldRecord hold = await journal.EnterAsync(note, async ct =>
        {
            payments = await store.ReadPaymentsAsync(orderId, ct);
            return $"payments {payments}";
        }, cancellationToken);
        await Task.Delay(gatewayCall, cancellationToken);

        // A client-side check that the hold is still live (the token is linked with the hold's LostToken): cheap, but it
        // cannot close the gap to the write. A pause (GC, VM, SIGSTOP) right after it outlasts the lease unnoticed; the
        // demo's pause point sits exactly there. The write is guarded instead: etcd checks ownership when it applies it.
        cancellationToken.ThrowIfCancellationRequested();
        if (pausePoint)
        {
            await workload.StopAtPausePointAsync(
                $"@pause-point\t{hold.Key}\t{hold.Token}\t{hold.Lease}\t{hold.Handle.TtlSeconds}\tpayments {payments}→{payments + 1}");
        }

        await store.WritePaymentsAsync(orderId, payments + 1, hold);

        // Only a captured payment is credited (a refused write threw above). The credit has its own lock and runs even
        // if the order's hold is lost meanwhile: the payment it belongs to is written.
        using (journal.Calling($"/customers/{order.CustomerId}"))
        {
            await CreditCustomerAsync(order, CancellationToken.None);
        }

        return payments + 1;
    }

    /// <summary>
    /// Adds an order's amount to its customer's balance. The key comes from a member path of the argument: orders of
    /// one customer share this lock even when their order locks differ.
    /// </summary>
    /// <param name="order">The paid order.</param>
    /// <param name="cancellationToken">Ends the wait for the lock.</param>
    /// <returns>A task that completes when the balance is written.</returns>
    [EtcdLock("/customers/<order.CustomerId>", Ttl = 5)]
    public partial Task CreditCustomerAsync(Order order, CancellationToken cancellationToken);

    private async Task CreditCustomerAsyncCore(Order order, CancellationToken cancellationToken)
    {
        HoldRecord hold = await journal.EnterAsync("", cancellationToken);
        CustomerAccount account = await store.ReadAccountAsync(order.CustomerId, cancellationToken);
        await Task.Delay(workload.LedgerCall, cancellationToken);
        cancellationToken.ThrowIfCancellationRequested();
        await store.WriteAccountAsync(order.CustomerId, account.Credit(order.AmountCents), hold);
    }

    /// <summary>
    /// The settlement job, scheduled on every node at the same moments: it must run on one node at a time. A node
    /// that finds the lock busy skips its turn (one attempt, no wait) instead of queueing a duplicate run.
    /// </summary>
    /// <param name="cancellationToken">Cancelled if the hold is lost.</param>
    /// <returns><c>true</c> when this node ran the job; <c>false</c> (the generated wrapper's <c>default</c>) when it skipped.</returns>
    [EtcdLock("/jobs/settlement", Ttl = 10, WaitTimeoutMilliseconds = 0, WhenBusy = LockBusyBehavior.Skip)]
    public partial Task<bool> RunSettlementAsync(CancellationToken cancellationToken);

    private async Task<bool> RunSettlementAsyncCore(CancellationToken cancellationToken)
    {
        HoldRecord hold = await journal.EnterAsync("", cancellationToken);
        int runs = await store.ReadSettlementRunsAsync(cancellationToken);
        await Task.Delay(workload.SettlementRun, cancellationToken);
        cancellationToken.ThrowIfCancellationRequested();
        await store.WriteSettlementRunsAsync(runs + 1, hold);
        return true;
    }
}
