using System.Diagnostics;
using Microsoft.Extensions.Logging;

namespace AttributeLock.Engine.Session;

/// <summary>The in-flight count, the open holds and the drain of dispose (see <see cref="ISessionWork"/>).</summary>
/// <remarks>
/// Invariants (<c>_disposed</c>, <c>_inFlight</c>, <c>_drained</c> and the open holds change only under <c>_gate</c>):
/// a hold is registered at most once and only before dispose began; the count never goes below 0 (both checked with
/// <see cref="Invariant"/>); the drain is signalled only when dispose asked for it, when the count reaches 0.
/// </remarks>
internal sealed class SessionWork : ISessionWork
{
    private readonly object _gate = new();
    private readonly HashSet<ISessionHold> _holds = new();
    private readonly ILogger _logger;
    private readonly string _ownerName;
    private bool _disposed;
    private int _inFlight;
    private TaskCompletionSource? _drained;
    // Outage logging: when the first failure of the current outage was warned about (0: none), and how many failures
    // were logged at Debug since.
    private long _outageStarted;
    private int _outageQuietFailures;

    public SessionWork(ILogger logger, string ownerName)
    {
        _logger = logger;
        _ownerName = ownerName;
    }

    public bool IsDisposed => Volatile.Read(ref _disposed);

    public int InFlightCount
    {
        get
        {
            lock (_gate)
            {
                return _inFlight;
            }
        }
    }

    public bool TryBegin()
    {
        lock (_gate)
        {
            if (_disposed)
            {
                return false;
            }

            _inFlight++;
            return true;
        }
    }

    public void Begin()
    {
        lock (_gate)
        {
            _inFlight++;
        }
    }

    public void End()
    {
        TaskCompletionSource? drained = null;
        lock (_gate)
        {
            Invariant.Require(_inFlight > 0, "work in flight ends once: the in-flight count never goes below 0");
            if (--_inFlight == 0 && _disposed)
            {
                drained = _drained;
            }
        }

        drained?.TrySetResult();
    }

    public void RunInBackground(Func<Task> work)
    {
        Begin();
        using (ExecutionContext.SuppressFlow())
        {
            _ = Task.Run(async () =>
            {
                try
                {
                    await work().ConfigureAwait(false);
                }
                finally
                {
                    End();
                }
            });
        }
    }

    public bool TryRegister(ISessionHold hold, KeptLease lease)
    {
        lock (_gate)
        {
            if (_disposed)
            {
                throw new ObjectDisposedException(_ownerName, "The lock provider was disposed while the lock was being acquired.");
            }

            if (!lease.Attach(hold))
            {
                return false;
            }

            bool added = _holds.Add(hold);
            Invariant.Require(added, "a hold is registered once");
            hold.OnRegistered();
            return true;
        }
    }

    public void Unregister(ISessionHold hold)
    {
        lock (_gate)
        {
            _holds.Remove(hold);
        }
    }

    /// <summary>Marks the session disposed (once) and takes the holds open now: none can be registered after this.</summary>
    /// <returns><c>false</c> when dispose began already.</returns>
    public bool TryBeginDispose(out ISessionHold[] open)
    {
        lock (_gate)
        {
            if (_disposed)
            {
                open = [];
                return false;
            }

            _disposed = true;
            open = _holds.ToArray();
            return true;
        }
    }

    /// <summary>
    /// Completes when nothing is in flight. Asked for only after the open holds' releases and the spares' revokes were
    /// started: work that ended before that (the count touching 0 while those were not started yet) must not let
    /// dispose go on while they still run.
    /// </summary>
    public Task DrainAsync()
    {
        lock (_gate)
        {
            if (_inFlight == 0)
            {
                return Task.CompletedTask;
            }

            _drained = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            return _drained.Task; // End signals it when the count reaches 0
        }
    }

    public void EtcdAnswered()
    {
        if (Volatile.Read(ref _outageStarted) == 0)
        {
            return;
        }

        long started = Interlocked.Exchange(ref _outageStarted, 0);
        if (started != 0)
        {
            Log.EtcdAnswersAgain(_logger, Stopwatch.GetElapsedTime(started).TotalSeconds, Interlocked.Exchange(ref _outageQuietFailures, 0));
        }
    }

    public bool FailureStartsOutage()
    {
        if (Interlocked.CompareExchange(ref _outageStarted, Stopwatch.GetTimestamp(), 0) == 0)
        {
            return true;
        }

        Interlocked.Increment(ref _outageQuietFailures);
        return false;
    }
}
