namespace AttributeLock;

/// <summary>
/// One async gate per key inside a provider: callers of one process queue here, so only one of them at a time
/// talks to etcd about a key. On each release in etcd a process then sends one transaction instead of one per
/// waiter (every failed Version==0 transaction still costs etcd a consensus round).
/// </summary>
/// <remarks>
/// Invariants (everything under the lock of <c>_map</c>):
/// <list type="bullet">
/// <item>A gate is in the map exactly while it is held or waited for; an uncontended enter allocates only the gate.</item>
/// <item>Exit hands the gate straight to the first waiter still queued (FIFO), so it never looks free in between.</item>
/// <item>A waiter is either still queued (and may be cancelled, which removes it) or has been handed the gate
/// (its task completed with the gate): never both, because both transitions happen under the lock.</item>
/// </list>
/// </remarks>
internal sealed class LocalGates
{
    private readonly Dictionary<string, Gate> _map = new(StringComparer.Ordinal);

    internal sealed class Gate
    {
        /// <summary>Callers waiting for the gate, first come first served; created by the first waiter.</summary>
        public Queue<TaskCompletionSource<Gate?>>? Waiters;

        /// <summary>Who holds the key through this gate, for timeout messages.</summary>
        public volatile string? Holder;
    }

    /// <summary>Enters the key's gate. Returns null when <paramref name="singleAttempt"/> and the gate is taken.</summary>
    public ValueTask<Gate?> EnterAsync(string key, bool singleAttempt, CancellationToken cancellationToken)
    {
        TaskCompletionSource<Gate?> waiter;
        lock (_map)
        {
            if (!_map.TryGetValue(key, out Gate? gate))
            {
                gate = new Gate();
                _map.Add(key, gate);
                return ValueTask.FromResult<Gate?>(gate);
            }

            if (singleAttempt)
            {
                return ValueTask.FromResult<Gate?>(null);
            }

            cancellationToken.ThrowIfCancellationRequested();
            waiter = new TaskCompletionSource<Gate?>(TaskCreationOptions.RunContinuationsAsynchronously);
            (gate.Waiters ??= new Queue<TaskCompletionSource<Gate?>>()).Enqueue(waiter);
        }

        return WaitAsync(key, waiter, cancellationToken);
    }

    private async ValueTask<Gate?> WaitAsync(string key, TaskCompletionSource<Gate?> waiter, CancellationToken cancellationToken)
    {
        using (cancellationToken.Register(() => Cancel(key, waiter, cancellationToken)))
        {
            return await waiter.Task.ConfigureAwait(false);
        }
    }

    private void Cancel(string key, TaskCompletionSource<Gate?> waiter, CancellationToken cancellationToken)
    {
        lock (_map)
        {
            if (!_map.TryGetValue(key, out Gate? gate) || gate.Waiters is null || waiter.Task.IsCompleted)
            {
                return; // already handed the gate: the caller owns it and will exit it
            }

            int count = gate.Waiters.Count;
            for (int i = 0; i < count; i++)
            {
                TaskCompletionSource<Gate?> w = gate.Waiters.Dequeue();
                if (!ReferenceEquals(w, waiter))
                {
                    gate.Waiters.Enqueue(w);
                }
            }

            waiter.TrySetCanceled(cancellationToken);
        }
    }

    /// <summary>The holder recorded on the key's gate, if a caller of this process holds it.</summary>
    public string? HolderOf(string key)
    {
        lock (_map)
        {
            return _map.TryGetValue(key, out Gate? gate) ? gate.Holder : null;
        }
    }

    public void Exit(string key, Gate gate)
    {
        lock (_map)
        {
            gate.Holder = null;
            if (gate.Waiters is not null && gate.Waiters.TryDequeue(out TaskCompletionSource<Gate?>? next))
            {
                next.TrySetResult(gate);
            }
            else
            {
                _map.Remove(key);
            }
        }
    }
}
