namespace AttributeLock.Engine.Lock;

/// <summary>
/// The token that ends a wait: the caller's, the provider's dispose, and the wait timeout (a timer only when the wait
/// is finite and positive). Waits beyond what a timer can hold (about 49.7 days) count as unlimited. Which of them
/// ended it decides what the caller hears (<see cref="LockAcquire"/>). A struct: it lives in the acquire's state machine.
/// </summary>
internal readonly struct WaitBudget : IDisposable
{
    private static readonly TimeSpan s_maxTimer = TimeSpan.FromMilliseconds(uint.MaxValue - 2);
    private readonly CancellationToken _caller;
    private readonly CancellationToken _stop;
    private readonly CancellationTokenSource? _linked;
    private readonly bool _timed;

    public WaitBudget(TimeSpan wait, CancellationToken caller, CancellationToken stop)
    {
        _caller = caller;
        _stop = stop;
        _timed = wait > TimeSpan.Zero && wait <= s_maxTimer;
        _linked = _timed || caller.CanBeCanceled ? CancellationTokenSource.CreateLinkedTokenSource(caller, stop) : null;
        if (_timed)
        {
            _linked!.CancelAfter(wait);
        }

        Token = _linked?.Token ?? stop;
    }

    public CancellationToken Token { get; }

    public bool CallerCancelled => _caller.IsCancellationRequested;

    public bool ProviderStopped => _stop.IsCancellationRequested;

    public bool TimedOut => _timed && _linked!.IsCancellationRequested && !CallerCancelled && !ProviderStopped;

    public void Dispose() => _linked?.Dispose();
}
