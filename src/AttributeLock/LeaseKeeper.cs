using System.Collections.Concurrent;
using System.Diagnostics;
using Etcdserverpb;
using Grpc.Core;
using Microsoft.Extensions.Logging;

namespace AttributeLock;

/// <summary>One lease kept alive by a <see cref="LeaseKeeper"/>, with its client-side deadline.</summary>
/// <remarks>
/// Invariants (all state changes under <c>_gate</c>):
/// <list type="bullet">
/// <item>The deadline is the send time of the request etcd last confirmed (the grant or a keep-alive) plus the TTL etcd
/// answered. etcd restarts the TTL when it receives the request, which is after we sent it, so this deadline is never
/// later than etcd's own expiry: the hold is declared lost no later than another holder could get the key.</item>
/// <item>Lost is final: once lost, no later answer revives the lease.</item>
/// <item>A retired lease (released normally) is never reported lost.</item>
/// </list>
/// </remarks>
internal sealed class KeptLease
{
    private readonly object _gate = new();
    private readonly CancellationTokenSource _lost = new();
    private readonly Queue<long> _pendingSends = new();
    // Created at the first renewal: a hold released within TTL/3 never needs one (most calls), and until the first
    // renewal the keeper loop is not yet involved, so nothing but a timer could notice the deadline anyway.
    private Timer? _deadlineTimer;
    private long _deadline;
    private bool _retired;
    private LockHold? _hold;

    public KeptLease(long id, long ttlSeconds, long grantSentTimestamp)
    {
        Id = id;
        TtlSeconds = ttlSeconds;
        RenewInterval = Math.Max(Stopwatch.Frequency / 2, ttlSeconds * Stopwatch.Frequency / 3);
        NextRenewal = grantSentTimestamp + RenewInterval;
        _deadline = grantSentTimestamp + ttlSeconds * Stopwatch.Frequency;
    }

    public long Id { get; }
    public long TtlSeconds { get; }
    public long RenewInterval { get; }

    /// <summary>When the keeper sends the next keep-alive; touched only by the keeper's loop.</summary>
    public long NextRenewal { get; set; }

    public CancellationToken LostToken => _lost.Token;
    public bool IsLost => _lost.IsCancellationRequested;
    public string? LostReason { get; private set; }

    /// <summary>The monotonic timestamp after which the lease may have expired in etcd.</summary>
    public long Deadline
    {
        get { lock (_gate) { return _deadline; } }
    }

    /// <summary>From now on a loss is reported for <paramref name="hold"/> (logged and counted by its provider).</summary>
    public void OnLost(LockHold hold)
    {
        lock (_gate)
        {
            _hold = hold;
        }
    }

    public void RecordSend(long timestamp)
    {
        lock (_gate)
        {
            _pendingSends.Enqueue(timestamp);
            if (_deadlineTimer is null && !_retired && !IsLost)
            {
                _deadlineTimer = new Timer(static s => ((KeptLease)s!).OnDeadlineTimer(), this, Timeout.Infinite, Timeout.Infinite);
                ArmDeadlineTimer();
            }
        }
    }

    private void ArmDeadlineTimer()
    {
        long dueMs = (long)Math.Ceiling((_deadline - Stopwatch.GetTimestamp()) * 1000.0 / Stopwatch.Frequency);
        _deadlineTimer?.Change(Math.Max(0, dueMs), Timeout.Infinite);
    }

    public void ForgetSends()
    {
        lock (_gate)
        {
            _pendingSends.Clear();
        }
    }

    /// <summary>Handles a keep-alive answer on the stream: matched with the oldest unanswered send.</summary>
    public void OnKeepAliveAnswer(long ttlSeconds)
    {
        long sent;
        lock (_gate)
        {
            if (!_pendingSends.TryDequeue(out sent))
            {
                return;
            }
        }

        if (ttlSeconds <= 0)
        {
            MarkLost("etcd reports the lease gone (expired or revoked)");
        }
        else
        {
            Confirm(sent, ttlSeconds);
        }
    }

    private void Confirm(long sentTimestamp, long ttlSeconds)
    {
        lock (_gate)
        {
            if (_retired || IsLost)
            {
                return;
            }

            long deadline = sentTimestamp + ttlSeconds * Stopwatch.Frequency;
            if (deadline <= _deadline)
            {
                return;
            }

            _deadline = deadline;
            ArmDeadlineTimer();
        }
    }

    private void OnDeadlineTimer()
    {
        lock (_gate)
        {
            if (Stopwatch.GetTimestamp() < _deadline)
            {
                // Timer raced with a renewal that moved the deadline; Confirm re-armed it.
                return;
            }
        }

        MarkLost($"no keep-alive confirmed within the lease's TTL of {TtlSeconds} s");
    }

    public void MarkLost(string reason)
    {
        LockHold? hold;
        lock (_gate)
        {
            if (_retired || IsLost)
            {
                return;
            }

            LostReason = reason;
            hold = _hold;
            _deadlineTimer?.Change(Timeout.Infinite, Timeout.Infinite);
        }

        hold?.Provider.OnHoldLost(hold, reason);
        _lost.Cancel();
    }

    /// <summary>Ends keeping: the lease is being revoked on purpose and must not be reported lost.</summary>
    public void Retire()
    {
        lock (_gate)
        {
            _retired = true;
        }

        _deadlineTimer?.Dispose();
    }
}

/// <summary>
/// Keeps leases alive over one shared keep-alive stream per provider, and declares a lease lost when its
/// deadline passes or etcd answers that it is gone.
/// </summary>
/// <remarks>
/// Only the loop task writes to the stream (gRPC streams allow one writer); a reader task per stream matches answers
/// to leases by id. A failed stream is dropped, every lease's pending sends are forgotten (their answers will not
/// come) and the loop opens a new stream and renews at once, at most every half second while etcd stays away.
/// </remarks>
internal sealed class LeaseKeeper : IAsyncDisposable
{
    private static readonly long s_reopenBackoff = Stopwatch.Frequency / 2;

    private readonly Lease.LeaseClient _client;
    private readonly ILogger _logger;
    private readonly ConcurrentDictionary<long, KeptLease> _leases = new();
    private readonly CancellationTokenSource _stop = new();
    private readonly SemaphoreSlim _wake = new(0, int.MaxValue);
    private readonly object _startGate = new();
    private Task? _loop;
    private AsyncDuplexStreamingCall<LeaseKeepAliveRequest, LeaseKeepAliveResponse>? _stream;
    private long _lastStreamFailure;
    // When the loop means to wake next, and how many leases were registered so far. Register wakes the loop only when
    // the new lease is due before the planned wake. Ordering that makes this safe: Register adds the lease, then bumps
    // _registrations, then reads _plannedWake; the loop reads _registrations, scans, publishes _plannedWake, reads
    // _registrations again and rescans if it moved. Either the loop's second read sees the bump (it rescans), or the
    // bump came after it, so Register reads the published plan and wakes the loop if the plan is too late.
    private long _plannedWake = long.MaxValue;
    private long _registrations;

    public LeaseKeeper(Lease.LeaseClient client, ILogger logger)
    {
        _client = client;
        _logger = logger;
    }

    public int Count => _leases.Count;

    public KeptLease Register(long id, long ttlSeconds, long grantSentTimestamp)
    {
        var lease = new KeptLease(id, ttlSeconds, grantSentTimestamp);
        _leases[id] = lease;
        EnsureLoop();
        Interlocked.Increment(ref _registrations);
        if (lease.NextRenewal < Interlocked.Read(ref _plannedWake))
        {
            _wake.Release();
        }

        return lease;
    }

    public void Unregister(KeptLease lease)
    {
        lease.Retire();
        _leases.TryRemove(new KeyValuePair<long, KeptLease>(lease.Id, lease));
    }

    private void EnsureLoop()
    {
        if (_loop is not null)
        {
            return;
        }

        lock (_startGate)
        {
            _loop ??= Task.Run(() => RunAsync(_stop.Token));
        }
    }

    private async Task RunAsync(CancellationToken stop)
    {
        while (!stop.IsCancellationRequested)
        {
            long registrationsBefore = Interlocked.Read(ref _registrations);
            long now = Stopwatch.GetTimestamp();
            long nextWake = now + Stopwatch.Frequency;
            foreach (KeptLease lease in _leases.Values)
            {
                if (lease.IsLost)
                {
                    continue;
                }

                if (now >= lease.NextRenewal)
                {
                    bool sent = await TrySendAsync(lease, now, stop).ConfigureAwait(false);
                    lease.NextRenewal = sent ? now + lease.RenewInterval : now + s_reopenBackoff;
                }

                nextWake = Math.Min(nextWake, lease.NextRenewal);
            }

            Interlocked.Exchange(ref _plannedWake, nextWake);
            if (Interlocked.Read(ref _registrations) != registrationsBefore)
            {
                continue;
            }

            long waitMs = Math.Max(1, (nextWake - Stopwatch.GetTimestamp()) * 1000 / Stopwatch.Frequency);
            try
            {
                await _wake.WaitAsync(TimeSpan.FromMilliseconds(waitMs), stop).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                break;
            }
        }
    }

    private async ValueTask<bool> TrySendAsync(KeptLease lease, long now, CancellationToken stop)
    {
        var stream = _stream;
        if (stream is null)
        {
            if (now - Interlocked.Read(ref _lastStreamFailure) < s_reopenBackoff)
            {
                return false;
            }

            stream = _client.LeaseKeepAlive(cancellationToken: stop);
            _stream = stream;
            _ = Task.Run(() => ReadAsync(stream, stop));
        }

        try
        {
            lease.RecordSend(now);
            // A write can stall on a dead connection; the lease's deadline timer keeps safety, this only frees the loop.
            await stream.RequestStream.WriteAsync(new LeaseKeepAliveRequest { ID = lease.Id }, stop)
                .WaitAsync(TimeSpan.FromSeconds(Math.Max(1, lease.TtlSeconds / 3.0)), stop).ConfigureAwait(false);
            return true;
        }
        catch (Exception ex) when (!stop.IsCancellationRequested)
        {
            DropStream(stream, ex);
            return false;
        }
    }

    private async Task ReadAsync(AsyncDuplexStreamingCall<LeaseKeepAliveRequest, LeaseKeepAliveResponse> stream, CancellationToken stop)
    {
        Exception? error = null;
        try
        {
            while (await stream.ResponseStream.MoveNext(stop).ConfigureAwait(false))
            {
                LeaseKeepAliveResponse answer = stream.ResponseStream.Current;
                if (_leases.TryGetValue(answer.ID, out KeptLease? lease))
                {
                    lease.OnKeepAliveAnswer(answer.TTL);
                }
            }
        }
        catch (Exception ex)
        {
            error = ex;
        }

        if (!stop.IsCancellationRequested)
        {
            DropStream(stream, error);
        }
    }

    private void DropStream(AsyncDuplexStreamingCall<LeaseKeepAliveRequest, LeaseKeepAliveResponse> stream, Exception? error)
    {
        if (Interlocked.CompareExchange(ref _stream, null, stream) != stream)
        {
            return;
        }

        Interlocked.Exchange(ref _lastStreamFailure, Stopwatch.GetTimestamp());
        Log.KeepAliveStreamFailed(_logger, error);
        stream.Dispose();
        long now = Stopwatch.GetTimestamp();
        foreach (KeptLease lease in _leases.Values)
        {
            // Answers to what was sent on the old stream will never come: renew on the next stream at once.
            lease.ForgetSends();
            lease.NextRenewal = now;
        }

        _wake.Release();
    }

    public async ValueTask DisposeAsync()
    {
        _stop.Cancel();
        if (_loop is not null)
        {
            try
            {
                await _loop.ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
            }
        }

        _stream?.Dispose();
        foreach (KeptLease lease in _leases.Values)
        {
            lease.Retire();
        }

        _leases.Clear();
        _stop.Dispose();
    }
}
