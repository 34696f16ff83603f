using System.Collections.Concurrent;
using System.Diagnostics;
using Etcdserverpb;
using Grpc.Core;
using Microsoft.Extensions.Logging;

namespace AttributeLock.Engine.Session;

/// <summary>
/// Keeps this provider's leases alive. Each lease schedules its own renewals and watches its own deadline
/// (<see cref="KeptLease"/>, run by <see cref="LeaseScheduler"/>); the renewals of all leases travel over one shared
/// keep-alive stream (<see cref="KeepAliveStream"/>), as etcd's Go client does, instead of a stream per renewal.
/// </summary>
/// <remarks>
/// <para>One stream carries every lease, and etcd answers a stream's renewals one at a time in order: a renewal that
/// etcd holds (a member cut off from the leader holds each up to its request timeout; the leader holds the renewal of
/// an expired lease until its revoke commits, and revokes are rate-limited) would hold every lease behind it. So a
/// sweep every 100 ms fails a stream that owes answers and has answered nothing for <see cref="StuckAfterMs"/> ms. Its unanswered
/// renewals are sent again soon on a fresh stream (perhaps to another member), and the lease whose renewal was at the
/// head is renewed on a stream of its own per renewal until etcd answers it again, so it cannot hold the fresh shared
/// stream too. A stream that is slow but answers is left alone: under load, failing it would only send more.</para>
/// <para>Safety never depends on any of this: each lease's deadline runs from the send time of the last renewal etcd
/// confirmed, and is watched by the <see cref="LeaseScheduler"/> thread.</para>
/// </remarks>
internal sealed class LeaseKeeper : IAsyncDisposable
{
    /// <summary>How long a stream may owe answers without answering anything before it counts as stuck.</summary>
    public const int StuckAfterMs = 250;

    /// <summary>
    /// When <see cref="RenewalLag"/> reaches this (one second), new acquires wait for the renewals to catch up, at most
    /// one request timeout, then are refused (the back-pressure step of an acquire); the health check reports the
    /// provider degraded.
    /// </summary>
    public static readonly TimeSpan RenewalLagLimit = TimeSpan.FromSeconds(1);

    private static readonly long s_stuckAfter = StuckAfterMs * Stopwatch.Frequency / 1000;
    private static readonly long s_warnEvery = 10 * Stopwatch.Frequency;

    private readonly Lease.LeaseClient _client;
    private readonly ILogger _logger;
    private readonly TimeSpan _callTimeout;
    private readonly ConcurrentDictionary<long, KeptLease> _leases = new();
    private readonly CancellationTokenSource _stop = new();
    private readonly object _gate = new();
    // Under _gate: the stream new renewals go to, while it has not failed (null: the next renewal opens one), and when
    // a stream failure was last logged at Warning.
    private KeepAliveStream? _current;
    private long _lastWarned = long.MinValue / 2;
    private bool _disposed;
    private readonly Timer _sweep;
    // How far renewals were behind at the last sweep, in Stopwatch ticks (see RenewalLag).
    private long _lag;

    public LeaseKeeper(Lease.LeaseClient client, ILogger logger, TimeSpan callTimeout)
    {
        _client = client;
        _logger = logger;
        _callTimeout = callTimeout;
        using (ExecutionContext.SuppressFlow())
        {
            _sweep = new Timer(static s => ((LeaseKeeper)s!).Sweep(), this, 100, 100);
        }
    }

    /// <summary>How many leases are kept now (granted and neither released nor lost).</summary>
    public int Count => _leases.Count;

    /// <summary>
    /// The kept leases and which of them are spares, counted in one pass (a lease registered or handed out meanwhile
    /// is counted once, as what it was when the pass read it). For tests and diagnostics; allocates.
    /// </summary>
    public KeptLeaseSnapshot Snapshot()
    {
        int count = 0;
        var spareIds = new List<long>();
        foreach (KeyValuePair<long, KeptLease> kept in _leases)
        {
            count++;
            if (kept.Value.IsSpare)
            {
                spareIds.Add(kept.Value.Id);
            }
        }

        return new KeptLeaseSnapshot(count, spareIds.ToArray());
    }

    /// <summary>
    /// How far renewals are behind, as of the last sweep (at most 100 ms ago), the most of: how long past its renewal
    /// interval the most overdue lease has gone without a confirmed renewal, the age of the oldest unanswered renewal on
    /// the shared stream, and how late the schedule thread runs. 0 or milliseconds when etcd and the machine keep up.
    /// The first one is what failed streams cannot hide: their renewals are sent again, but the leases stay overdue
    /// until answered. Read on every acquire, so it is one field, computed by the sweep.
    /// </summary>
    public TimeSpan RenewalLag() => TimeSpan.FromSeconds(Volatile.Read(ref _lag) / (double)Stopwatch.Frequency);

    public KeptLease Register(long id, long ttlSeconds, long grantSentTimestamp, bool isSpare = false)
    {
        var lease = new KeptLease(this, id, ttlSeconds, grantSentTimestamp, isSpare);
        bool added = _leases.TryAdd(id, lease);
        Invariant.Require(added, "a lease is kept once: its id is not kept already");
        // A grant answered after dispose (its drain timed out): nobody keeps the lease; it must not renew, nor retry a
        // renewal every 200 ms until its deadline. Dispose sets _disposed and then retires what it finds; this adds and
        // then reads _disposed (both sides pass a full fence between), so each lease is retired by one or the other.
        if (Volatile.Read(ref _disposed))
        {
            lease.Retire();
        }

        return lease;
    }

    public void Forget(KeptLease lease) => _leases.TryRemove(new KeyValuePair<long, KeptLease>(lease.Id, lease));

    /// <summary>Sends one renewal of <paramref name="lease"/> on the current stream; called from its timer, never blocks.</summary>
    public void StartRenewal(KeptLease lease)
    {
        long sent = LeaseClock.GetTimestamp();
        if (lease.RenewsAlone)
        {
            _ = RenewAloneAsync(lease, sent);
            return;
        }

        while (true)
        {
            KeepAliveStream stream;
            lock (_gate)
            {
                if (_disposed)
                {
                    break;
                }

                stream = _current ??= new KeepAliveStream(_client, _stop.Token, OnStreamFailed);
            }

            if (stream.TrySend(lease, sent))
            {
                return;
            }

            lock (_gate)
            {
                if (_current == stream)
                {
                    _current = null;
                }
            }
        }

        lease.OnRenewalFailed();
    }

    private void OnStreamFailed(KeepAliveStream stream, string reason, int pending)
    {
        bool warn;
        lock (_gate)
        {
            if (_current == stream)
            {
                _current = null;
            }

            if (_disposed)
            {
                return;
            }

            long now = LeaseClock.GetTimestamp();
            warn = now - _lastWarned >= s_warnEvery;
            if (warn)
            {
                _lastWarned = now;
            }
        }

        if (warn)
        {
            Log.KeepAliveStreamFailed(_logger, reason, pending);
        }
        else
        {
            Log.KeepAliveStreamFailedAgain(_logger, reason, pending);
        }
    }

    private void Sweep()
    {
        long now = LeaseClock.GetTimestamp();
        long lag = LeaseScheduler.LatenessTicks(now);
        foreach (KeyValuePair<long, KeptLease> kept in _leases) // enumerating the pairs copies nothing (Values would)
        {
            lag = Math.Max(lag, kept.Value.OverdueTicks(now));
        }

        KeepAliveStream? stream;
        lock (_gate)
        {
            stream = _disposed ? null : _current;
        }

        if (stream?.Owed(now) is (long sent, KeptLease head, long stuck))
        {
            lag = Math.Max(lag, now - sent);

            // Only a stream that answers nothing is failed. One that answers slowly (etcd or this process short of
            // CPU for the renewals asked) is left alone: sending its renewals again would add to the load; the lag
            // shows in RenewalLag and holds back new acquires instead.
            if (stuck >= s_stuckAfter)
            {
                // The head's renewal is the one etcd (or the way to it) holds: renew that lease alone for a while.
                head.RenewsAlone = true;
                stream.Fail($"no answer for {stuck * 1000 / Stopwatch.Frequency} ms (the oldest renewal sent {(now - sent) * 1000 / Stopwatch.Frequency} ms ago)");
            }
        }

        Volatile.Write(ref _lag, Math.Max(0, lag));
    }

    /// <summary>
    /// Renews a lease whose renewal a shared stream got stuck on, over a short stream of its own with a deadline, so it
    /// holds no other lease; back on the shared stream once etcd answers it.
    /// </summary>
    private async Task RenewAloneAsync(KeptLease lease, long sent)
    {
        try
        {
            TimeSpan timeout = TimeSpan.FromSeconds(Math.Max(0.5, Math.Min(_callTimeout.TotalSeconds, lease.TtlSeconds)));
            using var call = _client.LeaseKeepAlive(new CallOptions(deadline: DateTime.UtcNow + timeout, cancellationToken: _stop.Token));
            await call.RequestStream.WriteAsync(new LeaseKeepAliveRequest { ID = lease.Id }).ConfigureAwait(false);
            if (!await call.ResponseStream.MoveNext(_stop.Token).ConfigureAwait(false))
            {
                throw new InvalidOperationException("the keep-alive stream ended without an answer");
            }

            lease.RenewsAlone = false;
            lease.OnRenewed(sent, call.ResponseStream.Current.TTL);
        }
        catch (Exception)
        {
            lease.OnRenewalFailed();
        }
    }

    public ValueTask DisposeAsync()
    {
        KeepAliveStream? stream;
        lock (_gate)
        {
            _disposed = true;
            stream = _current;
            _current = null;
        }

        _sweep.Dispose();
        _stop.Cancel();
        foreach (KeptLease lease in _leases.Values)
        {
            lease.Retire();
        }

        stream?.Fail("the provider is disposed");

        _leases.Clear();
        return ValueTask.CompletedTask;
    }
}
