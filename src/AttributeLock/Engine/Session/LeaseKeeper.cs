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

    /// <summary>
    /// New acquires wait, then are refused, while the renewals the kept leases need per second would pass this share of
    /// <see cref="RenewalCapacity"/>: the rest is the margin for bursts and for the estimate.
    /// </summary>
    public const double CapacityShare = 0.8;

    /// <summary>
    /// Leases not renewed yet may add at most this share of the renewals already proven (renewed at least once), or
    /// <see cref="LargeDemand"/> renewals per second, whichever is more: a new lease needs no renewal for a third of
    /// its TTL, so demand admitted faster than that would show as lag only once far too much was taken.
    /// </summary>
    public const double UnprovenShare = 0.25;

    /// <summary>The default of <see cref="EngineSettings.LargeSessionRenewals"/>: 1,666 holds of TTL 10.</summary>
    public const double DefaultLargeSessionRenewals = 500;

    /// <summary>
    /// From this many renewals per second needed (<see cref="EngineSettings.LargeSessionRenewals"/>), a session is large:
    /// it takes no new lease while <see cref="UnderPressure"/>, and its capacity is measured. Below it, a hiccup of etcd
    /// or of this process is far likelier than the limit, and is left to the lag limit alone. It is also what leases not
    /// renewed yet may need in any case (see <see cref="UnprovenShare"/>): up to the size of a session that is not large.
    /// </summary>
    public double LargeDemand { get; }

    // Renewal lag from which the keeper is under pressure (renewals stretched to half the TTL) for s_pressureHold.
    private static readonly long s_pressureLag = Stopwatch.Frequency / 4;
    private static readonly long s_pressureHold = 10 * Stopwatch.Frequency;
    // Renewal lag from which the renewals answered per second are taken as what the session can carry, and how long
    // that figure is kept without a new saturated second.
    private static readonly long s_saturatedLag = Stopwatch.Frequency / 2;
    private static readonly long s_capacityExpiry = 300 * Stopwatch.Frequency;

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
    // The renewals per second the kept leases need, in thousandths (see RenewalDemand): the sum over _leases of
    // 1 / RenewInterval, changed by exactly the lease's share when it is added to or removed from _leases; and the part
    // of it due to leases never renewed yet (each lease's share leaves it once: KeptLease.UnprovenShare).
    private long _demandMilli;
    private long _unprovenMilli;
    // Renewals answered (all streams); the sweep turns it into a rate once a second.
    private long _answers;
    // Until when the keeper is under pressure (Stopwatch ticks; written by the sweep, read by renewals).
    private long _pressureUntil;
    // What the session was measured to carry (renewals per second; 0: not measured; see RenewalCapacity) and when, and
    // the sweep's one-second window: its start, the answers counted then and the most lag seen in it (sweep only).
    private long _capacity;
    private long _capacityAt;
    private long _windowStart;
    private long _windowAnswers;
    private long _windowMaxLag;

    public LeaseKeeper(Lease.LeaseClient client, ILogger logger, TimeSpan callTimeout, double largeSessionRenewals = DefaultLargeSessionRenewals)
    {
        Invariant.Require(largeSessionRenewals > 0, "a large session needs some renewals per second");
        LargeDemand = largeSessionRenewals;
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

    /// <summary>The renewals per second the kept leases need (each one every third of its TTL, at least every 0.5 s).</summary>
    public double RenewalDemand() => Volatile.Read(ref _demandMilli) / 1000.0;

    /// <summary>
    /// How many renewals per second this session was measured to carry: the renewals answered per second during the
    /// last seconds in which renewals were half a second or more behind (so answered as fast as etcd, the connection
    /// and this process could), smoothed; <c>null</c> until renewals have fallen behind once, and again a minute after
    /// they last did. Whatever limits it (etcd, the network, this process's CPU, acquires flooding etcd) limits the
    /// renewals, which is what counts.
    /// </summary>
    public double? RenewalCapacity()
    {
        long capacity = Volatile.Read(ref _capacity);
        return capacity > 0 ? capacity : null;
    }

    /// <summary>
    /// A large session's (<see cref="LargeDemand"/>) renewals have been <c>250 ms</c> or more behind within the last
    /// 10 s: leases are renewed every half TTL instead of
    /// every third (<see cref="KeptLease.StretchedRenewIntervalFor"/>), a third fewer renewals, so that a session that
    /// took slightly more than it can renew catches up instead of losing holds.
    /// </summary>
    public bool UnderPressure => LeaseClock.GetTimestamp() < Volatile.Read(ref _pressureUntil);

    /// <summary>
    /// Whether one more lease of <paramref name="ttlSeconds"/> fits: renewals are not <see cref="RenewalLagLimit"/>
    /// behind; a large session (<see cref="LargeDemand"/>) is not <see cref="UnderPressure"/> and its renewals needed stay within
    /// <see cref="CapacityShare"/> of the measured capacity (when measured), and leases not renewed yet stay within
    /// <see cref="UnprovenShare"/> of the proven renewals or <see cref="LargeDemand"/>. Taken together the demand
    /// grows by at most a quarter per renewal interval once past the floor, so it overshoots what the session can carry
    /// by at most that much before the capacity is measured, and the stretched renewals absorb that.
    /// </summary>
    public Room RoomFor(long ttlSeconds)
    {
        if (RenewalLag() >= RenewalLagLimit)
        {
            return Room.Lag;
        }

        long added = DemandMilli(KeptLease.RenewIntervalFor(ttlSeconds));
        long demand = Volatile.Read(ref _demandMilli);
        long unproven = Volatile.Read(ref _unprovenMilli);
        if (demand >= LargeDemand * 1000)
        {
            if (UnderPressure)
            {
                return Room.Pressure;
            }

            long capacity = Volatile.Read(ref _capacity);
            if (capacity > 0 && demand + added > CapacityShare * capacity * 1000)
            {
                return Room.Capacity;
            }
        }

        return unproven + added <= Math.Max(LargeDemand * 1000, UnprovenShare * (demand - unproven)) ? Room.Yes : Room.Unproven;
    }

    /// <summary>Whether a new lease fits (<see cref="RoomFor"/>), or why not.</summary>
    public enum Room
    {
        /// <summary>It fits.</summary>
        Yes,

        /// <summary>Renewals are <see cref="RenewalLagLimit"/> or more behind.</summary>
        Lag,

        /// <summary>A large session whose renewals fell behind within the last 10 s.</summary>
        Pressure,

        /// <summary>The renewals needed would pass <see cref="CapacityShare"/> of the measured capacity.</summary>
        Capacity,

        /// <summary>Leases not renewed yet already add all the demand allowed before they prove it can be carried.</summary>
        Unproven,
    }

    /// <summary>The renewals per second needed by leases not renewed yet.</summary>
    public double UnprovenDemand() => Volatile.Read(ref _unprovenMilli) / 1000.0;

    /// <summary>A renewal of <paramref name="lease"/> was answered: counted, and the lease is proven.</summary>
    public void OnRenewed(KeptLease lease)
    {
        Interlocked.Increment(ref _answers);
        SettleUnproven(lease);
    }

    private void SettleUnproven(KeptLease lease)
    {
        if (Interlocked.Exchange(ref lease.UnprovenShare, 0) == 1)
        {
            Interlocked.Add(ref _unprovenMilli, -DemandMilli(lease.RenewInterval));
        }
    }

    private static long DemandMilli(long renewInterval) => 1000 * Stopwatch.Frequency / renewInterval;

    public KeptLease Register(long id, long ttlSeconds, long grantSentTimestamp, bool isSpare = false)
    {
        var lease = new KeptLease(this, id, ttlSeconds, grantSentTimestamp, isSpare);
        bool added = _leases.TryAdd(id, lease);
        Invariant.Require(added, "a lease is kept once: its id is not kept already");
        Interlocked.Add(ref _demandMilli, DemandMilli(lease.RenewInterval));
        Interlocked.Add(ref _unprovenMilli, DemandMilli(lease.RenewInterval));
        // A grant answered after dispose (its drain timed out): nobody keeps the lease; it must not renew, nor retry a
        // renewal every 200 ms until its deadline. Dispose sets _disposed and then retires what it finds; this adds and
        // then reads _disposed (both sides pass a full fence between), so each lease is retired by one or the other.
        if (Volatile.Read(ref _disposed))
        {
            lease.Retire();
        }

        return lease;
    }

    public void Forget(KeptLease lease)
    {
        if (_leases.TryRemove(new KeyValuePair<long, KeptLease>(lease.Id, lease)))
        {
            Interlocked.Add(ref _demandMilli, -DemandMilli(lease.RenewInterval));
            SettleUnproven(lease);
        }
    }

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
        if (lag >= s_pressureLag && RenewalDemand() >= LargeDemand)
        {
            Volatile.Write(ref _pressureUntil, now + s_pressureHold);
        }

        MeasureCapacity(now, lag);
    }

    private void MeasureCapacity(long now, long lag)
    {
        // Sweep thread only. A second in which renewals were half a second behind at some sweep answered as many as the
        // session could: that rate is a sample of its capacity.
        _windowMaxLag = Math.Max(_windowMaxLag, lag);
        if (_windowStart == 0)
        {
            _windowStart = now;
            _windowAnswers = Interlocked.Read(ref _answers);
            return;
        }

        long elapsed = now - _windowStart;
        if (elapsed < Stopwatch.Frequency)
        {
            return;
        }

        long answers = Interlocked.Read(ref _answers);
        double sample = (answers - _windowAnswers) * (double)Stopwatch.Frequency / elapsed;
        double demand = RenewalDemand();
        // Saturated: behind, and still answering at least half of what is due (a third fewer under pressure). A second
        // in which etcd answered next to nothing is an outage or a stuck stream, not the session's capacity: it would
        // refuse every acquire long after etcd recovered.
        if (_windowMaxLag >= s_saturatedLag && demand >= LargeDemand && sample >= 0.5 * demand * (UnderPressure ? 2.0 / 3 : 1))
        {
            long previous = Volatile.Read(ref _capacity);
            double smoothed = previous > 0 ? 0.5 * previous + 0.5 * sample : sample;
            Volatile.Write(ref _capacity, Math.Max(1, (long)smoothed));
            _capacityAt = now;
        }
        else if (_capacityAt != 0 && now - _capacityAt > s_capacityExpiry)
        {
            Volatile.Write(ref _capacity, 0);
            _capacityAt = 0;
        }

        _windowStart = now;
        _windowAnswers = answers;
        _windowMaxLag = 0;
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
