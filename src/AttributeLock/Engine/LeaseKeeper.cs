using System.Collections.Concurrent;
using System.Diagnostics;
using Etcdserverpb;
using Grpc.Core;
using Microsoft.Extensions.Logging;

namespace AttributeLock.Engine;

/// <summary>
/// Keeps this provider's leases alive. Each lease schedules itself with its own timer (<see cref="KeptLease"/>); a
/// renewal is one short keep-alive stream of its own (one request, one answer), so a stalled renewal of one lease
/// never delays another lease's renewal or its loss signal, and no answer has to be matched to a shared stream.
/// </summary>
/// <remarks>
/// A renewal every TTL/3 per held lease costs one HTTP/2 stream on the provider's connection; etcd's leader answers
/// keep-alives without a consensus round. Renewals run with no ExecutionContext of any caller.
/// </remarks>
internal sealed class LeaseKeeper : IAsyncDisposable
{
    private readonly Lease.LeaseClient _client;
    private readonly ILogger _logger;
    private readonly TimeSpan _callTimeout;
    private readonly ConcurrentDictionary<long, KeptLease> _leases = new();
    private readonly CancellationTokenSource _stop = new();

    public LeaseKeeper(Lease.LeaseClient client, ILogger logger, TimeSpan callTimeout)
    {
        _client = client;
        _logger = logger;
        _callTimeout = callTimeout;
    }

    /// <summary>How many leases are kept now (granted and neither released nor lost).</summary>
    public int Count => _leases.Count;

    /// <summary>How many kept leases are not spares (one pass: a spare registered meanwhile is never subtracted).</summary>
    public int NonSpareCount => _leases.Values.Count(l => !l.IsSpare);

    /// <summary>How many kept leases are spares (granted ahead, not handed to an acquire yet).</summary>
    public int SpareCount => _leases.Values.Count(l => l.IsSpare);

    /// <summary>The ids of the kept leases that are spares.</summary>
    public long[] SpareIds => _leases.Values.Where(l => l.IsSpare).Select(l => l.Id).ToArray();

    public KeptLease Register(long id, long ttlSeconds, long grantSentTimestamp, bool isSpare = false)
    {
        var lease = new KeptLease(this, id, ttlSeconds, grantSentTimestamp, isSpare);
        _leases[id] = lease;
        return lease;
    }

    public void Forget(KeptLease lease) => _leases.TryRemove(new KeyValuePair<long, KeptLease>(lease.Id, lease));

    /// <summary>Sends one renewal of <paramref name="lease"/>; called from its timer, never awaited there.</summary>
    public void StartRenewal(KeptLease lease) => _ = RenewAsync(lease);

    private async Task RenewAsync(KeptLease lease)
    {
        long sent = LeaseClock.GetTimestamp();
        try
        {
            // A slow answer still counts (the deadline runs from the send time); a renewal stuck on a member that does
            // not answer (paused, cut off from the leader) is covered by the hedge the lease sends a renewal interval
            // later, which may reach another member.
            TimeSpan timeout = TimeSpan.FromSeconds(Math.Max(0.5, Math.Min(_callTimeout.TotalSeconds, lease.TtlSeconds)));
            using var call = _client.LeaseKeepAlive(new CallOptions(deadline: DateTime.UtcNow + timeout, cancellationToken: _stop.Token));
            await call.RequestStream.WriteAsync(new LeaseKeepAliveRequest { ID = lease.Id }).ConfigureAwait(false);
            if (!await call.ResponseStream.MoveNext(_stop.Token).ConfigureAwait(false))
            {
                throw new InvalidOperationException("the keep-alive stream ended without an answer");
            }

            lease.OnRenewed(sent, call.ResponseStream.Current.TTL);
        }
        catch (Exception ex)
        {
            if (!_stop.IsCancellationRequested)
            {
                Log.RenewalFailed(_logger, lease.Id, ex.Message);
            }

            lease.OnRenewalFailed();
        }
    }

    public ValueTask DisposeAsync()
    {
        _stop.Cancel();
        foreach (KeptLease lease in _leases.Values)
        {
            lease.Retire();
        }

        _leases.Clear();
        return ValueTask.CompletedTask;
    }
}
