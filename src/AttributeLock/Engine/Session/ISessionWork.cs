namespace AttributeLock.Engine.Session;

/// <summary>
/// The work a session runs and the provider's dispose waits for: acquires, releases and background revokes and
/// refills are counted in flight; holds are registered while open; etcd's answers end an outage's quiet logging.
/// </summary>
/// <remarks>
/// The drain protocol: dispose marks the session disposed and takes the open holds (one lock, so no hold registered
/// after that exists), releases them, then waits until nothing is in flight. Work may start after the mark only when it
/// is started by work still in flight (a release's background revoke) or under a lock that dispose takes before it
/// waits (the spare pool's): so once the count drains, nothing starts again.
/// </remarks>
internal interface ISessionWork
{
    /// <summary>Dispose began: no new acquire starts.</summary>
    bool IsDisposed { get; }

    /// <summary>Acquires, releases and background revokes or refills still running (dispose waits for them).</summary>
    int InFlightCount { get; }

    /// <summary>Counts an acquire in flight, unless dispose began.</summary>
    /// <returns><c>false</c> when dispose began: nothing was counted, the acquire must not start.</returns>
    bool TryBegin();

    /// <summary>Counts work in flight even after dispose began (a release: dispose waits for its revoke).</summary>
    void Begin();

    /// <summary>Work counted by <see cref="TryBegin"/> or <see cref="Begin"/> ended; the last one after dispose lets dispose go on.</summary>
    void End();

    /// <summary>
    /// Runs work behind the caller's back, counted in flight (dispose waits for it), with no caller's context. Callers
    /// are themselves in flight, or start it under a lock that dispose takes before it waits.
    /// </summary>
    void RunInBackground(Func<Task> work);

    /// <summary>
    /// Makes <paramref name="hold"/> the owner of <paramref name="lease"/> and registers it as open, under the lock that
    /// dispose takes, so that no hold escapes dispose's sweep.
    /// </summary>
    /// <returns><c>false</c> when the lease was lost meanwhile: the hold does not exist (the caller revokes the lease).</returns>
    /// <exception cref="ObjectDisposedException">Dispose began.</exception>
    bool TryRegister(ISessionHold hold, KeptLease lease);

    /// <summary>Forgets a released hold.</summary>
    void Unregister(ISessionHold hold);

    /// <summary>etcd answered a request: an outage warned about is over (logged once, with what was kept quiet).</summary>
    void EtcdAnswered();

    /// <summary>
    /// A request failed: <c>true</c> when it is the first failure of an outage (warn about it), <c>false</c> when the
    /// outage was warned about already (log it at Debug; it is counted for the line that ends the outage).
    /// </summary>
    bool FailureStartsOutage();
}
