using System.Diagnostics;
using System.Threading.Channels;
using Etcdserverpb;
using Grpc.Core;

namespace AttributeLock.Engine.Session;

/// <summary>
/// One long-lived <c>LeaseKeepAlive</c> stream that carries the renewals of many leases, as etcd's Go client renews
/// every lease of a client over one stream. A writer loop sends the requests in order; a reader loop matches each
/// answer to the oldest renewal of that lease still unanswered on this stream.
/// </summary>
/// <remarks>
/// Invariants (pending renewals change only under <c>_gate</c>):
/// <list type="bullet">
/// <item>Every renewal accepted by <see cref="TrySend"/> ends exactly once: answered (<see cref="KeptLease.OnRenewed"/>
/// with the send time of that very renewal, or of an earlier one of the same lease, never a later one: the deadline
/// it sets is never later than etcd's own), or failed with the stream (<see cref="KeptLease.OnRenewalFailed"/>).</item>
/// <item>Once failed, a stream accepts nothing and owes nothing; its pending renewals were all failed by the one call
/// to <see cref="Fail"/> that set <c>_failed</c>.</item>
/// <item>etcd answers the requests of one stream one by one, in order (<c>LeaseKeepAlive</c> in etcd's v3rpc), or
/// ends the stream; a lease gone from etcd is answered with TTL 0, which the lease takes as lost.</item>
/// </list>
/// No user code runs here: a lease's answer only moves its deadline or records its loss and queues the signal.
/// </remarks>
internal sealed class KeepAliveStream
{
    private readonly object _gate = new();
    private readonly CancellationTokenSource _cancel;
    private readonly AsyncDuplexStreamingCall<LeaseKeepAliveRequest, LeaseKeepAliveResponse> _call;
    private readonly Channel<long> _requests = Channel.CreateUnbounded<long>(new UnboundedChannelOptions { SingleReader = true });
    private readonly Action<KeepAliveStream, string, int> _onFailed;
    // Unanswered renewals by lease id; a lease has at most two in flight (KeptLease.MaxInFlight), chained oldest first.
    private readonly Dictionary<long, Pending> _pending = new();
    // The same renewals in send order, for the age of the oldest; answered ones are dropped lazily from the front.
    private readonly Queue<Pending> _order = new();
    private int _pendingCount;
    private bool _failed;
    // When this stream last showed progress: opened, or answered a renewal (under _gate).
    private long _lastProgress = LeaseClock.GetTimestamp();

    private sealed class Pending(KeptLease lease, long sent)
    {
        public readonly KeptLease Lease = lease;
        public readonly long Sent = sent;
        public Pending? Next;
        public bool Done;
    }

    public KeepAliveStream(Lease.LeaseClient client, CancellationToken stop, Action<KeepAliveStream, string, int> onFailed)
    {
        _onFailed = onFailed;
        _cancel = CancellationTokenSource.CreateLinkedTokenSource(stop);
        // The loops must not carry the context of whichever caller's renewal opened the stream.
        using (ExecutionContext.SuppressFlow())
        {
            _call = client.LeaseKeepAlive(new CallOptions(cancellationToken: _cancel.Token));
            _ = Task.Run(WriteLoopAsync);
            _ = Task.Run(ReadLoopAsync);
        }
    }

    /// <summary>Queues a renewal of <paramref name="lease"/> sent at <paramref name="sent"/>.</summary>
    /// <returns><c>false</c> when the stream has failed: nothing was queued, the caller sends it elsewhere.</returns>
    public bool TrySend(KeptLease lease, long sent)
    {
        var pending = new Pending(lease, sent);
        lock (_gate)
        {
            if (_failed)
            {
                return false;
            }

            if (_pending.TryGetValue(lease.Id, out Pending? first))
            {
                while (first.Next is not null)
                {
                    first = first.Next;
                }

                first.Next = pending;
            }
            else
            {
                _pending.Add(lease.Id, pending);
            }

            _order.Enqueue(pending);
            _pendingCount++;
            // Written inside the gate so that the requests go out in the order the renewals were queued.
            bool queued = _requests.Writer.TryWrite(lease.Id);
            Debug.Assert(queued, "an open keep-alive stream accepts every request (its channel completes only once failed)");
        }

        return true;
    }

    /// <summary>
    /// The oldest renewal this stream still owes an answer to (its send time and its lease), and how long the stream has
    /// owed answers without answering anything; <c>null</c> when it owes nothing. A slow stream that keeps answering
    /// is not stuck; one whose oldest renewal and last answer are both long ago is.
    /// </summary>
    public (long Sent, KeptLease Lease, long StuckTicks)? Owed(long now)
    {
        lock (_gate)
        {
            while (_order.TryPeek(out Pending? p))
            {
                if (!p.Done)
                {
                    return (p.Sent, p.Lease, now - Math.Max(_lastProgress, p.Sent));
                }

                _order.Dequeue();
            }

            return null;
        }
    }

    /// <summary>Ends the stream; each renewal still unanswered on it is failed (its lease retries elsewhere soon).</summary>
    public void Fail(string reason)
    {
        List<KeptLease> failed;
        lock (_gate)
        {
            if (_failed)
            {
                return;
            }

            _failed = true;
            failed = new List<KeptLease>(_pendingCount);
            foreach (Pending p in _order)
            {
                if (!p.Done)
                {
                    p.Done = true;
                    failed.Add(p.Lease);
                }
            }

            _order.Clear();
            _pending.Clear();
            _pendingCount = 0;
        }

        _requests.Writer.TryComplete();
        _cancel.Cancel();
        _cancel.Dispose();

        foreach (KeptLease lease in failed)
        {
            lease.OnRenewalFailed();
        }

        _onFailed(this, reason, failed.Count);
    }

    private async Task WriteLoopAsync()
    {
        try
        {
            var request = new LeaseKeepAliveRequest();
            while (await _requests.Reader.WaitToReadAsync().ConfigureAwait(false))
            {
                while (_requests.Reader.TryRead(out long id))
                {
                    // The message is serialized by the write before it returns: one request object serves every write.
                    request.ID = id;
                    await _call.RequestStream.WriteAsync(request).ConfigureAwait(false);
                }
            }
        }
        catch (Exception ex)
        {
            Fail("sending a renewal failed: " + EtcdErrors.Brief(ex));
        }
    }

    private async Task ReadLoopAsync()
    {
        string reason;
        try
        {
            while (await _call.ResponseStream.MoveNext(CancellationToken.None).ConfigureAwait(false))
            {
                LeaseKeepAliveResponse answer = _call.ResponseStream.Current;
                Pending? answered;
                lock (_gate)
                {
                    if (_failed || !_pending.Remove(answer.ID, out answered))
                    {
                        // Nothing owed for this lease (the stream was failed meanwhile): a late answer moves nothing.
                        continue;
                    }

                    if (answered.Next is not null)
                    {
                        _pending.Add(answer.ID, answered.Next);
                    }

                    answered.Done = true;
                    _pendingCount--;
                    _lastProgress = LeaseClock.GetTimestamp();
                }

                answered.Lease.OnRenewed(answered.Sent, answer.TTL);
            }

            reason = "etcd ended the keep-alive stream";
        }
        catch (Exception ex)
        {
            reason = EtcdErrors.Brief(ex);
        }

        Fail(reason);
        _call.Dispose();
    }
}
