namespace AttributeLock;

/// <summary>
/// One async gate per key inside a provider: callers of one process queue here, so only one of them at a time
/// talks to etcd about a key. On each release in etcd a process then sends one transaction instead of one per
/// waiter (every failed Version==0 transaction still costs etcd a consensus round).
/// </summary>
/// <remarks>
/// Invariant: a gate exists in the map while its reference count is above zero; the count and the map change
/// together under <c>_map</c>'s lock, so a gate is never removed while a caller holds or waits for it.
/// </remarks>
internal sealed class LocalGates
{
    private readonly Dictionary<string, Gate> _map = new(StringComparer.Ordinal);

    internal sealed class Gate
    {
        public readonly SemaphoreSlim Semaphore = new(1, 1);
        public int References;

        /// <summary>Who holds the key through this gate, for timeout messages.</summary>
        public volatile string? Holder;
    }

    /// <summary>Enters the key's gate. Returns null when <paramref name="singleAttempt"/> and the gate is taken.</summary>
    public async ValueTask<Gate?> EnterAsync(string key, bool singleAttempt, CancellationToken cancellationToken)
    {
        Gate gate;
        lock (_map)
        {
            if (!_map.TryGetValue(key, out gate!))
            {
                gate = new Gate();
                _map.Add(key, gate);
            }

            gate.References++;
        }

        try
        {
            if (singleAttempt)
            {
                if (gate.Semaphore.Wait(0))
                {
                    return gate;
                }
            }
            else
            {
                await gate.Semaphore.WaitAsync(cancellationToken).ConfigureAwait(false);
                return gate;
            }
        }
        catch
        {
            Unreference(key, gate);
            throw;
        }

        Unreference(key, gate);
        return null;
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
        gate.Holder = null;
        gate.Semaphore.Release();
        Unreference(key, gate);
    }

    private void Unreference(string key, Gate gate)
    {
        lock (_map)
        {
            if (--gate.References == 0)
            {
                _map.Remove(key);
            }
        }
    }
}
