using System.Diagnostics;
using AttributeLock.Engine.Session;
using Etcdserverpb;
using Google.Protobuf;
using Grpc.Core;

namespace AttributeLock.Engine.Lock;

/// <summary>
/// Step 5 of an acquire (<see cref="LockAcquire"/>): the key is busy; wait until its holder may have changed. A watch
/// from the busy answer's revision + 1 reports the key's DELETE; the watch ending, being cancelled or failing ends the
/// wait too, and so does a periodic read that finds another create revision (a stalled watch stream never keeps a
/// waiter waiting). Whatever ended it, the acquire goes back to its transaction, which decides: this step never
/// concludes that the key is free.
/// </summary>
internal sealed class LockWaitForRelease
{
    private readonly IEtcdCalls _calls;
    private readonly TimeSpan _recheckInterval;

    public LockWaitForRelease(IEtcdCalls calls, TimeSpan recheckInterval)
    {
        _calls = calls;
        _recheckInterval = recheckInterval;
    }

    /// <summary>Why a wait ended: each means "try the transaction again", none means "the key is free".</summary>
    public enum Outcome
    {
        /// <summary>The watch reported the key deleted (released, or its lease ended).</summary>
        KeyDeleted,

        /// <summary>A periodic read found the key gone or held by another holder (another create revision).</summary>
        HolderChanged,

        /// <summary>The watch stream ended, etcd cancelled the watch, or the watch failed: never waited on.</summary>
        WatchEnded,
    }

    /// <summary>Waits until the key's holder may have changed.</summary>
    /// <param name="fullKey">The busy key (for logs).</param>
    /// <param name="keyBytes">The busy key in UTF-8.</param>
    /// <param name="revision">The revision of the transaction's busy answer: the watch starts after it.</param>
    /// <param name="createRevision">The holder's create revision, as that answer showed it.</param>
    /// <param name="token">Ends the wait; its cancellation surfaces as an exception that <see cref="LockAcquire"/> translates.</param>
    public async Task<Outcome> WaitAsync(string fullKey, ByteString keyBytes, long revision, long createRevision, CancellationToken token)
    {
        long waitStart = Stopwatch.GetTimestamp();
        using var callCts = CancellationTokenSource.CreateLinkedTokenSource(token);
        // A read still pending when the wait ends (a periodic read decided, or the caller's token fired) faults once
        // the call is cancelled and disposed; it is observed below, so that it never becomes an unobserved exception.
        Task<bool>? next = null;
        try
        {
            using var call = _calls.Watches.Watch(cancellationToken: callCts.Token);
            await call.RequestStream.WriteAsync(new WatchRequest
            {
                CreateRequest = new WatchCreateRequest
                {
                    Key = keyBytes,
                    StartRevision = revision + 1,
                    Filters = { WatchCreateRequest.Types.FilterType.Noput },
                },
            }, callCts.Token).ConfigureAwait(false);

            while (true)
            {
                next ??= call.ResponseStream.MoveNext(callCts.Token);
                Task finished = await Task.WhenAny(next, Task.Delay(_recheckInterval, token)).ConfigureAwait(false);
                token.ThrowIfCancellationRequested();
                if (finished != next)
                {
                    if (!await StillHeldAsync(keyBytes, createRevision).ConfigureAwait(false))
                    {
                        Log.WatchEnded(_calls.Logger, fullKey, "a periodic read found the holder changed");
                        return Outcome.HolderChanged;
                    }

                    continue;
                }

                if (!await next.ConfigureAwait(false))
                {
                    Log.WatchEnded(_calls.Logger, fullKey, "the watch stream ended");
                    return Outcome.WatchEnded;
                }

                next = null;
                WatchResponse response = call.ResponseStream.Current;
                if (response.Canceled)
                {
                    Log.WatchEnded(_calls.Logger, fullKey, $"etcd cancelled the watch: {response.CancelReason}");
                    return Outcome.WatchEnded;
                }

                if (response.Events.Any(e => e.Type == Mvccpb.Event.Types.EventType.Delete))
                {
                    return Outcome.KeyDeleted;
                }
            }
        }
        catch (Exception ex) when (!token.IsCancellationRequested && ex is not OperationCanceledException)
        {
            Log.WatchEnded(_calls.Logger, fullKey, $"the watch failed: {ex.Message}");
            return Outcome.WatchEnded;
        }
        finally
        {
            callCts.Cancel();
            next?.ContinueWith(static t => _ = t.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted | TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
            _calls.Metrics.WaitDuration.Record(Stopwatch.GetElapsedTime(waitStart).TotalMilliseconds);
        }
    }

    /// <summary>Whether the key still has the holder's create revision; a failed read counts as "maybe not".</summary>
    private async ValueTask<bool> StillHeldAsync(ByteString key, long createRevision)
    {
        try
        {
            RangeResponse range = await _calls.Kv.RangeAsync(new RangeRequest { Key = key }, _calls.CallOptions()).ConfigureAwait(false);
            return range.Kvs.Count == 1 && range.Kvs[0].CreateRevision == createRevision;
        }
        catch (Exception ex) when (ex is RpcException or OperationCanceledException)
        {
            return false;
        }
    }
}
