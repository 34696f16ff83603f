namespace AttributeLock.Engine.Lock;

/// <summary>
/// What the caller of <see cref="LockAcquire.AcquireAsync{TResult}"/> makes of the acquire's end, inside the acquire's own
/// state machine: the façade wraps the hold in a handle (a shared, stateless instance), a generated wrapper's frame
/// (<see cref="EtcdLockScope"/>, one per call already) makes its scope. So neither caller needs an async layer of its own:
/// a call costs one state machine for the acquire, not two or three.
/// </summary>
/// <typeparam name="TResult">What the acquire returns.</typeparam>
internal interface IAcquireOutcome<TResult>
    where TResult : class
{
    /// <summary>The hold was registered: the caller's result. Must not throw.</summary>
    TResult Acquired(LockHold hold, CancellationToken callerToken);

    /// <summary>The key stayed busy and the request does not throw for that (<see cref="NotAcquired"/> follows).</summary>
    TResult? Busy();

    /// <summary>The acquire ends without a hold (busy, failed, cancelled); called once, before it returns or throws. Must not throw.</summary>
    void NotAcquired();
}
