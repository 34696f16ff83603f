using System.Diagnostics;
using AttributeLock.Engine.Lock;
using Etcdserverpb;
using Grpc.Core;

namespace AttributeLock;

/// <summary>A cheap round trip to etcd through a provider's own connection, for health and readiness checks.</summary>
public static class EtcdLockProviderPing
{
    /// <summary>
    /// Asks etcd one question through <paramref name="provider"/>'s connection (a count-only read of the key prefix,
    /// which writes nothing and needs only read permission there), bounded by
    /// <see cref="EtcdLockProviderOptions.ConnectTimeout"/> like every request of the provider.
    /// </summary>
    /// <param name="provider">The provider.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>The round-trip time.</returns>
    /// <exception cref="EtcdLockUnavailableException">etcd could not be reached in time, or refused the read.</exception>
    /// <exception cref="ObjectDisposedException">The provider was disposed.</exception>
    public static async Task<TimeSpan> PingAsync(this EtcdLockProvider provider, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(provider);
        AcquireRequest probe = provider.Prepare("/", options: null, TimeSpan.Zero, throwWhenBusy: false);
        long started = Stopwatch.GetTimestamp();
        try
        {
            await provider.Calls.Kv.RangeAsync(
                new RangeRequest { Key = probe.KeyBytes, CountOnly = true },
                provider.Calls.CallOptions().WithCancellationToken(cancellationToken)).ResponseAsync.ConfigureAwait(false);
            return Stopwatch.GetElapsedTime(started);
        }
        catch (RpcException ex) when (ex.StatusCode == StatusCode.Cancelled && cancellationToken.IsCancellationRequested)
        {
            throw new OperationCanceledException("The ping was cancelled.", ex, cancellationToken);
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            throw provider.Calls.Unavailable(probe.FullKey, "a ping", ex);
        }
    }
}
