namespace OrderService.Worker;

/// <summary>
/// The demo's pace, switched by the coordinator. Slow motion: one handler per worker; every second all workers go for
/// the same order (1-3 in turn), so they contend, with a 300 ms gateway call a person can follow. Load: four
/// handlers per worker on random orders, millisecond calls.
/// </summary>
/// <param name="settings">The worker's start settings.</param>
public sealed class Workload(WorkerSettings settings)
{
    /// <summary>The most handlers a worker runs at once.</summary>
    public const int MaxHandlers = 4;

    private volatile bool _load = settings.StartInLoad;
    private int _longCall;
    private int _pausePoint;
    private volatile int _slowOrder;
    private int _showcase;
    private TaskCompletionSource _showcaseSignal = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private TaskCompletionSource _resume = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary><c>true</c> in the load phase.</summary>
    public bool IsLoad => _load;

    /// <summary>How many order handlers run now.</summary>
    public int Handlers => _load ? MaxHandlers : 1;

    /// <summary>Orders picked from in the load phase.</summary>
    public int Orders { get; } = settings.Orders;

    /// <summary>Orders walked in slow motion.</summary>
    public int SlowOrders => Math.Min(3, Orders);

    /// <summary>The payment gateway's answer time.</summary>
    public TimeSpan PaymentGatewayCall => _load ? TimeSpan.FromMilliseconds(Random.Shared.Next(1, 6)) : TimeSpan.FromMilliseconds(300);

    /// <summary>The gateway's answer time for the order slowed with <see cref="SlowOrder"/> (the demo's pause phase).</summary>
    public static TimeSpan SlowGatewayCall => TimeSpan.FromMilliseconds(2500);

    /// <summary>The ledger's answer time while a customer is credited.</summary>
    public TimeSpan LedgerCall => _load ? TimeSpan.FromMilliseconds(1) : TimeSpan.FromMilliseconds(50);

    /// <summary>How long one settlement run takes.</summary>
    public TimeSpan SettlementRun => _load ? TimeSpan.FromMilliseconds(300) : TimeSpan.FromMilliseconds(500);

    /// <summary>How often the settlement job is scheduled (on every node, at the same wall-clock moments).</summary>
    public TimeSpan SettlementEvery => TimeSpan.FromSeconds(2);

    /// <summary>A wait for a lock longer than this is journaled while it lasts.</summary>
    public TimeSpan ReportWaitsAfter => _load ? TimeSpan.FromSeconds(1) : TimeSpan.FromMilliseconds(100);

    /// <summary>The gateway call of a payment after <see cref="ArmLongCall"/>: the coordinator kills the worker meanwhile.</summary>
    public TimeSpan LongCall => TimeSpan.FromSeconds(20);

    /// <summary>How often the settlement leader settles while it leads.</summary>
    public static TimeSpan SettleEvery => TimeSpan.FromMilliseconds(500);

    /// <summary>How long one settlement report takes (a few hundred ms).</summary>
    public static TimeSpan ReportRun => TimeSpan.FromMilliseconds(Random.Shared.Next(250, 500));

    /// <summary>How long a report started by <see cref="ArmShowcase"/> takes: long enough to be seen side by side.</summary>
    public static TimeSpan ShowcaseCall => TimeSpan.FromMilliseconds(1500);

    /// <summary>How long a catalog read holds its read lock.</summary>
    public TimeSpan CatalogRead => _load ? TimeSpan.FromMilliseconds(Random.Shared.Next(2, 10)) : TimeSpan.FromMilliseconds(Random.Shared.Next(100, 250));

    /// <summary>How long a price update holds its write lock (between its read and its write of the price).</summary>
    public TimeSpan PriceUpdateCall => _load ? TimeSpan.FromMilliseconds(Random.Shared.Next(2, 6)) : TimeSpan.FromMilliseconds(150);

    /// <summary>The pause between two back-office operations of one worker (reports, catalog reads, price updates).</summary>
    public TimeSpan BackOfficePause => _load ? TimeSpan.FromMilliseconds(Random.Shared.Next(20, 80)) : TimeSpan.FromMilliseconds(Random.Shared.Next(300, 900));

    /// <summary>The catalog's items.</summary>
    public static IReadOnlyList<string> Skus { get; } = ["SKU-1", "SKU-2", "SKU-3"];

    /// <summary>
    /// Asks the back office for the demo's showcase: two long reports and two long reads of <c>SKU-1</c> at once, and,
    /// with <paramref name="withUpdate"/>, a price update of <c>SKU-1</c> right after them (it waits for the readers).
    /// </summary>
    /// <param name="withUpdate">Also update the price.</param>
    public void ArmShowcase(bool withUpdate)
    {
        Interlocked.Exchange(ref _showcase, withUpdate ? 2 : 1);
        Volatile.Read(ref _showcaseSignal).TrySetResult();
    }

    /// <summary>Completes when a showcase is armed (wakes the back office from its pause between operations).</summary>
    public Task ShowcaseSignal => Volatile.Read(ref _showcaseSignal).Task;

    /// <summary>Takes the showcase request: 0 none, 1 reports and reads, 2 also a price update.</summary>
    /// <returns>The request.</returns>
    public int TakeShowcase()
    {
        int request = Interlocked.Exchange(ref _showcase, 0);
        if (request != 0)
        {
            Interlocked.Exchange(ref _showcaseSignal, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously));
        }

        return request;
    }

    /// <summary>Switches to the load phase.</summary>
    public void SwitchToLoad() => _load = true;

    /// <summary>
    /// <c>true</c> while a long call or a pause point is armed: the slow-motion handler then starts its second a little
    /// early, to be first.
    /// </summary>
    public bool LongCallArmed => Volatile.Read(ref _longCall) != 0 || Volatile.Read(ref _pausePoint) != 0;

    /// <summary>Makes the next payment's gateway call hang (so that a kill lands inside the hold).</summary>
    public void ArmLongCall() => Interlocked.Exchange(ref _longCall, 1);

    /// <summary>
    /// Makes the next payment stop right before its write, after its client-side cancellation check, until
    /// <see cref="ResumeWrite"/>: the coordinator freezes the process (SIGSTOP) there.
    /// </summary>
    public void ArmPausePoint()
    {
        Interlocked.Exchange(ref _resume, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously));
        Interlocked.Exchange(ref _pausePoint, 1);
    }

    /// <summary>Lets the payment stopped at its pause point write (sent by the coordinator after SIGCONT).</summary>
    public void ResumeWrite() => Volatile.Read(ref _resume).TrySetResult();

    /// <summary>Payments of <paramref name="orderId"/> get <see cref="SlowGatewayCall"/>; 0 ends that.</summary>
    /// <param name="orderId">The order, or 0.</param>
    public void SlowOrder(int orderId) => _slowOrder = orderId;

    /// <summary>The gateway call of a payment of <paramref name="orderId"/>.</summary>
    /// <param name="orderId">The order.</param>
    /// <returns>The answer time.</returns>
    public TimeSpan GatewayCallFor(int orderId) => orderId == _slowOrder ? SlowGatewayCall : PaymentGatewayCall;

    /// <summary>
    /// Takes the pause-point request, if armed, with the same preference as <see cref="TakeLongCall"/> (a payment that
    /// got its lock first, so that the others queue behind it).
    /// </summary>
    /// <param name="waited">How long the payment waited for its lock.</param>
    /// <returns><c>true</c> once after <see cref="ArmPausePoint"/>.</returns>
    public bool TakePausePoint(TimeSpan waited) => TakeArmed(ref _pausePoint, waited);

    /// <summary>
    /// The pause point: tells the coordinator on standard output (one line starting with <c>@pause-point</c>) and waits
    /// for <see cref="ResumeWrite"/>, at most a minute. The coordinator sends SIGSTOP on that line, so the process is
    /// frozen here; it can only go on, and write, after SIGCONT.
    /// </summary>
    /// <param name="signal">The line to print.</param>
    /// <returns>A task that completes when the write may go out.</returns>
    public async Task StopAtPausePointAsync(string signal)
    {
        Task resumed = Volatile.Read(ref _resume).Task;
        Console.Out.WriteLine(signal);
        Console.Out.Flush();
        await Task.WhenAny(resumed, Task.Delay(TimeSpan.FromMinutes(1)));
    }

    /// <summary>
    /// Takes the long-call request, if armed, preferably for a payment that got its lock first in its second (it hardly
    /// waited): then the other workers queue for the same order and wait for the lease to expire. After three payments
    /// that all had to wait (a slow machine), the next one takes it anyway.
    /// </summary>
    /// <param name="waited">How long the payment waited for its lock.</param>
    /// <returns><c>true</c> once after <see cref="ArmLongCall"/>.</returns>
    public bool TakeLongCall(TimeSpan waited) => TakeArmed(ref _longCall, waited);

    private static bool TakeArmed(ref int request, TimeSpan waited)
    {
        int armed = Volatile.Read(ref request);
        if (armed == 0)
        {
            return false;
        }

        if (waited >= TimeSpan.FromMilliseconds(100) && armed < 4)
        {
            Interlocked.CompareExchange(ref request, armed + 1, armed);
            return false;
        }

        return Interlocked.Exchange(ref request, 0) != 0;
    }
}
