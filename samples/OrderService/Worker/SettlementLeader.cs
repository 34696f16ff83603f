using AttributeLock;
using Microsoft.Extensions.Hosting;
using OrderService.Journal;
using OrderService.Orders;

namespace OrderService.Worker;

/// <summary>
/// The settlement job as a leader's job: every node runs this <see cref="BackgroundService"/>, and
/// <c>[EtcdLeader]</c> lets its body run on one node only, the one that leads the election <c>/leaders/settlement</c>.
/// While it leads, it settles every <see cref="Workload.SettleEvery"/>: a read-modify-write of the settlement counter
/// (<c>n token</c>), guarded by the leadership, so a leader that lost its term (killed, or paused past its TTL) cannot
/// write any more. When the leader dies, the next candidate leads once the dead one's lease expires (TTL 3 s); when a
/// node stops, it resigns at once.
/// </summary>
/// <param name="locks">The lock provider the generated body campaigns with.</param>
/// <param name="store">The settlement counter.</param>
/// <param name="journal">Records each term and each settlement.</param>
public sealed partial class SettlementLeader(IEtcdLockProvider locks, OrderStore store, HoldJournal journal) : BackgroundService
{
    /// <summary>The leader key's TTL: how long a dead leader keeps the job before another node takes over.</summary>
    public const int TtlSeconds = 3;

    /// <inheritdoc />
    [EtcdLeader("/leaders/settlement", Ttl = TtlSeconds)]
    protected override partial Task ExecuteAsync(CancellationToken stoppingToken);

    private async Task ExecuteAsyncCore(CancellationToken leading)
    {
        HoldRecord leadership = await journal.LeadAsync(leading);
        while (true)
        {
            await Task.Delay(Workload.SettleEvery, leading);
            (int count, _) = await store.ReadSettlementCounterAsync(leading);
            leading.ThrowIfCancellationRequested();
            try
            {
                await store.WriteSettlementCounterAsync(count + 1, leadership);
            }
            catch (EtcdLockNotHeldException)
            {
                // etcd refused the write (journalled): this node no longer leads. Returning with the leadership lost
                // makes the election campaign again; the job goes on wherever the new leader is.
                return;
            }
        }
    }
}
