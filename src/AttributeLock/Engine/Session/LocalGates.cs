namespace AttributeLock.Engine.Session;

/// <summary>
/// One async gate per key inside a provider: callers of one process queue here, so only one of them at a time talks
/// to etcd about a key. On each release in etcd a process then sends one transaction instead of one per waiter (every
/// failed Version==0 transaction still costs etcd a consensus round).
/// </summary>
/// <remarks>
/// Invariants (everything under the lock of <c>_map</c>; no user code runs under it):
/// <list type="bullet">
/// <item>A gate is in the map exactly while it is held or waited for (checked when it is passed on, and when an acquire
/// registers its hold).</item>
/// <item>Exit hands the gate straight to the first waiter still queued (FIFO), so it never looks free in between.</item>
/// <item>A waiter is either queued (and may be cancelled, which unlinks it in O(1)) or has been handed the gate (its
/// task completed with the gate): never both, because both transitions happen under the lock.</item>
/// <item>Only the first waiter of a queue is told it is next (<see cref="Waiter.NextUp"/>): it alone prepares a lease
/// ahead of the hand-off, so a long queue holds at most one pre-granted lease.</item>
/// </list>
/// </remarks>
internal sealed class LocalGates
{
    private readonly Dictionary<string, Gate> _map = new(StringComparer.Ordinal);

    internal sealed class Gate
    {
        /// <summary>Callers waiting for the gate, first come first served; created by the first waiter.</summary>
        public LinkedList<Waiter>? Waiters;

        /// <summary>Who holds the key through this gate, for timeout messages.</summary>
        public volatile string? Holder;
    }

    internal sealed class Waiter
    {
        public Waiter(string key) => Key = key;

        public string Key { get; }

        public LinkedListNode<Waiter>? Node;

        public readonly TaskCompletionSource<Gate> Granted = new(TaskCreationOptions.RunContinuationsAsynchronously);

        /// <summary>Completes when this waiter becomes the first in its queue (or is granted).</summary>
        public readonly TaskCompletionSource NextUp = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public CancellationTokenRegistration Registration;
    }

    /// <summary>Enters the key's gate at once when it is free.</summary>
    /// <returns>The gate, or null with <paramref name="waiter"/> queued (or null and no waiter when <paramref name="singleAttempt"/>).</returns>
    public Gate? TryEnter(string key, bool singleAttempt, CancellationToken cancellationToken, out Waiter? waiter)
    {
        waiter = null;
        lock (_map)
        {
            if (!_map.TryGetValue(key, out Gate? gate))
            {
                gate = new Gate();
                _map.Add(key, gate);
                return gate;
            }

            if (singleAttempt)
            {
                return null;
            }

            cancellationToken.ThrowIfCancellationRequested();
            waiter = new Waiter(key);
            gate.Waiters ??= new LinkedList<Waiter>();
            waiter.Node = gate.Waiters.AddLast(waiter);
            if (gate.Waiters.Count == 1)
            {
                waiter.NextUp.TrySetResult();
            }
        }

        if (cancellationToken.CanBeCanceled)
        {
            waiter.Registration = cancellationToken.UnsafeRegister(
                static (state, ct) =>
                {
                    var (gates, w) = ((LocalGates, Waiter))state!;
                    gates.Cancel(w, ct);
                },
                (this, waiter));
        }

        return null;
    }

    private void Cancel(Waiter waiter, CancellationToken cancellationToken)
    {
        lock (_map)
        {
            if (waiter.Node?.List is not { } list)
            {
                return; // already handed the gate: its caller owns it and will exit it
            }

            bool wasFirst = list.First == waiter.Node;
            list.Remove(waiter.Node);
            waiter.Node = null;
            if (wasFirst)
            {
                list.First?.Value.NextUp.TrySetResult();
            }

            waiter.Granted.TrySetCanceled(cancellationToken);
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

    /// <summary>Whether <paramref name="gate"/> is the key's gate now and carries no hold yet: an acquire holds it.</summary>
    public bool IsHeldByAcquire(string key, Gate gate)
    {
        lock (_map)
        {
            return _map.TryGetValue(key, out Gate? current) && ReferenceEquals(current, gate) && gate.Holder is null;
        }
    }

    public void Exit(string key, Gate gate)
    {
        lock (_map)
        {
            Invariant.Require(_map.TryGetValue(key, out Gate? current) && ReferenceEquals(current, gate), "a local gate is passed on by the caller that holds it, once");
            gate.Holder = null;
            if (gate.Waiters?.First is { } first)
            {
                gate.Waiters.RemoveFirst();
                first.Value.Node = null;
                first.Value.NextUp.TrySetResult();
                first.Value.Granted.TrySetResult(gate);
                gate.Waiters.First?.Value.NextUp.TrySetResult();
            }
            else
            {
                _map.Remove(key);
            }
        }
    }
}
