using System.Diagnostics;
using Etcdserverpb;
using Google.Protobuf;

namespace AttributeLock.Benchmarks;

/// <summary>
/// Prototype of "grant the next lease ahead of time, off the critical path": a caller keeps one lease granted in
/// advance, so a locked call waits for the transaction and the revoke only (2 consensus writes instead of 3). The
/// grant still happens (etcd does the same work per call); it only overlaps with the previous call or with the wait.
/// </summary>
/// <remarks>
/// A lease granted ahead is used only while it is young (less than half its TTL old): etcd expires a lease nobody
/// keeps alive, and a Put with an expired lease fails the whole transaction. An older one is revoked in the
/// background and a fresh one granted on the spot. One instance serves one caller at a time.
/// </remarks>
public sealed class PreGrantedLeases : IAsyncDisposable
{
    private static readonly long s_maxAge = Stopwatch.Frequency * HandWritten.TtlSeconds / 2;

    private readonly HandWritten _etcd;
    private Task<(long Id, long GrantedAt)>? _next;

    public PreGrantedLeases(HandWritten etcd) => _etcd = etcd;

    /// <summary>Starts granting the next lease now (for example while waiting for a local gate).</summary>
    public void Prepare() => _next ??= GrantAsync();

    /// <summary>
    /// Takes the lease granted ahead (granting one now if there is none or it is too old); with
    /// <paramref name="grantNext"/>, starts the next grant at once (a caller that calls <see cref="Prepare"/> before
    /// it waits passes false, so that no grant runs during the hand-off).
    /// </summary>
    public async Task<long> TakeAsync(bool grantNext = true)
    {
        Task<(long Id, long GrantedAt)>? pending = _next;
        _next = null;
        if (pending is not null)
        {
            (long id, long grantedAt) = await pending.ConfigureAwait(false);
            if (Stopwatch.GetTimestamp() - grantedAt < s_maxAge)
            {
                _next = grantNext ? GrantAsync() : null;
                return id;
            }

            _ = _etcd.RevokeAsync(id);
        }

        long fresh = (await GrantAsync().ConfigureAwait(false)).Id;
        _next = grantNext ? GrantAsync() : null;
        return fresh;
    }

    /// <summary>A locked call with a lease granted ahead: Txn, body, LeaseRevoke.</summary>
    public async Task LockedCallAsync(ByteString key, Action? body = null, bool grantNext = true)
    {
        long lease = await TakeAsync(grantNext).ConfigureAwait(false);
        await _etcd.HoldAsync(key, lease, body).ConfigureAwait(false);
    }

    private async Task<(long Id, long GrantedAt)> GrantAsync()
    {
        LeaseGrantResponse granted = await _etcd.GrantAsync().ConfigureAwait(false);
        return (granted.ID, Stopwatch.GetTimestamp());
    }

    /// <summary>Revokes the lease granted ahead, if any.</summary>
    public async ValueTask DisposeAsync()
    {
        if (_next is { } pending)
        {
            _next = null;
            (long id, _) = await pending.ConfigureAwait(false);
            await _etcd.RevokeAsync(id).ConfigureAwait(false);
        }
    }
}
