using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Text;
using dotnet_etcd;
using Etcdserverpb;
using Google.Protobuf;
using Grpc.Core;
using Grpc.Net.Client;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace AttributeLock;

/// <summary>
/// The <see cref="IEtcdLockProvider"/> over etcd's v3 API (through dotnet-etcd). One instance per process and etcd
/// cluster is enough: it shares one connection and one lease keep-alive stream among all locks.
/// </summary>
/// <remarks>
/// Protocol of one acquire:
/// <list type="number">
/// <item>Callers of this process queue per key (so one transaction per process per release, not one per waiter).</item>
/// <item><c>LeaseGrant(TTL)</c>; the lease is kept alive from then on.</item>
/// <item><c>Txn If(Version(key) == 0) Then(Put(key, holder, lease)) Else(Get(key))</c>. A "busy" answer whose value and
/// lease are ours is a retried transaction that had committed: the lock is ours.</item>
/// <item>Busy: watch the key from the answer's revision + 1 until it is deleted, the watch ends or fails, or a periodic
/// read shows the holder changed; then back to the transaction (re-granting the lease if it was lost meanwhile).</item>
/// <item>Held: renewals every TTL/3; when the deadline (last confirmed renewal + TTL) passes or etcd says the lease is
/// gone, <see cref="EtcdLockHandle.LostToken"/> is cancelled.</item>
/// <item>Release: <c>LeaseRevoke</c>, which deletes the key. Failure is logged; the TTL then frees the lock.</item>
/// </list>
/// </remarks>
public sealed class EtcdLockProvider : IEtcdLockProvider, IAsyncDisposable, IDisposable
{
    private static readonly UTF8Encoding s_strictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);
    private static long s_providerCount;

    private readonly EtcdLockProviderOptions _options;
    private readonly ILogger _logger;
    private readonly EtcdClient _client;
    private readonly KV.KVClient _kv;
    private readonly Lease.LeaseClient _leases;
    private readonly Watch.WatchClient _watch;
    private readonly LeaseKeeper _keeper;
    private readonly LocalGates _gates = new();
    private readonly LockMetrics _metrics;
    private readonly string _endpoints;
    private readonly ByteString _holderBytes;
    private int _disposed;

    /// <summary>Creates a provider.</summary>
    /// <param name="options">Endpoints, key prefix, credentials, timeouts.</param>
    /// <param name="logger">Where lost holds and failed releases are logged; <c>null</c> logs nothing.</param>
    /// <param name="meterFactory">Creates the library's <see cref="Meter"/>; <c>null</c> creates it directly.</param>
    public EtcdLockProvider(EtcdLockProviderOptions options, ILogger<EtcdLockProvider>? logger = null, IMeterFactory? meterFactory = null)
        : this(options, logger, meterFactory, interceptors: null)
    {
    }

    /// <summary>Creates a provider whose gRPC calls pass through <paramref name="interceptors"/> (tests inject faults here).</summary>
    internal EtcdLockProvider(EtcdLockProviderOptions options, ILogger? logger, IMeterFactory? meterFactory, Grpc.Core.Interceptors.Interceptor[]? interceptors)
    {
        ArgumentNullException.ThrowIfNull(options);
        Validate(options);
        _options = options;
        _logger = logger ?? NullLogger.Instance;
        bool tls = options.TlsCaCertificatePath is not null;
        _endpoints = NormalizeEndpoints(options.Endpoints, tls ? "https://" : "http://");
        string[] hosts = _endpoints.Split(',').Select(e => new Uri(e).Host).ToArray();
        Action<GrpcChannelOptions> channel = ConnectionSettings.ConfigureChannel(options, hosts);
        _client = options.Username is null
            ? new EtcdClient(_endpoints, serverName: hosts[0], configureChannelOptions: channel, interceptors: interceptors)
            : new EtcdClient(_endpoints, options.Username, options.Password ?? "", serverName: hosts[0], configureChannelOptions: channel);
        var connection = _client.GetConnection();
        _kv = connection.KVClient;
        _leases = connection.LeaseClient;
        _watch = connection.WatchClient;
        _keeper = new LeaseKeeper(_leases, _logger);
        _metrics = new LockMetrics(meterFactory);
        HolderId = $"{Environment.MachineName} pid={Environment.ProcessId} provider={Interlocked.Increment(ref s_providerCount)}-{Guid.NewGuid().ToString("N")[..8]}";
        _holderBytes = ByteString.CopyFromUtf8(HolderId);
    }

    /// <summary>
    /// Who this provider is, as written into the value of every key it holds: host name, process id and a
    /// per-provider id.
    /// </summary>
    public string HolderId { get; }

    /// <summary>How often a waiter re-reads the key while its watch is quiet, to survive a stalled watch stream.</summary>
    internal TimeSpan WatchRecheckInterval { get; set; } = TimeSpan.FromSeconds(5);

    internal Meter Meter => _metrics.Meter;

    internal int KeptLeaseCount => _keeper.Count;

    /// <inheritdoc />
    public ValueTask<EtcdLockHandle> AcquireAsync(string key, EtcdLockOptions? options = null, CancellationToken cancellationToken = default)
    {
        // Synchronous up to the first await of AcquireCoreAsync on purpose: HeldLocks records the hold in the
        // caller's execution context.
        EtcdLockHandle? nested = Prepare(key, options, Timeout.InfiniteTimeSpan, out string fullKey, out ByteString keyBytes, out int ttl, out TimeSpan wait, out HeldLocks.Node? node);
        if (nested is not null)
        {
            return ValueTask.FromResult(nested);
        }

        // With throwWhenBusy the result is never null; ValueTask<T?> and ValueTask<T> are one runtime type for a class.
        return AcquireCoreAsync(node!, fullKey, keyBytes, ttl, wait, throwWhenBusy: true, cancellationToken)!;
    }

    /// <inheritdoc />
    public ValueTask<EtcdLockHandle?> TryAcquireAsync(string key, EtcdLockOptions? options = null, CancellationToken cancellationToken = default)
    {
        EtcdLockHandle? nested = Prepare(key, options, TimeSpan.Zero, out string fullKey, out ByteString keyBytes, out int ttl, out TimeSpan wait, out HeldLocks.Node? node);
        if (nested is not null)
        {
            return ValueTask.FromResult<EtcdLockHandle?>(nested);
        }

        return AcquireCoreAsync(node!, fullKey, keyBytes, ttl, wait, throwWhenBusy: false, cancellationToken);
    }

    private EtcdLockHandle? Prepare(string key, EtcdLockOptions? options, TimeSpan defaultWait, out string fullKey, out ByteString keyBytes, out int ttl, out TimeSpan wait, out HeldLocks.Node? node)
    {
        ObjectDisposedException.ThrowIf(_disposed != 0, this);
        fullKey = BuildKey(key, out keyBytes);
        ttl = options?.TtlSeconds ?? _options.DefaultTtlSeconds;
        if (ttl < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(options), ttl, "The lock's TTL must be at least 1 second.");
        }

        wait = options?.WaitTimeout ?? defaultWait;
        if (wait < TimeSpan.Zero && wait != Timeout.InfiniteTimeSpan)
        {
            throw new ArgumentOutOfRangeException(nameof(options), wait, "The wait timeout must be zero or positive, or Timeout.InfiniteTimeSpan.");
        }

        LockHold? outer = HeldLocks.Find(this, fullKey);
        node = HeldLocks.Push(this, fullKey);
        if (outer is not null)
        {
            var nested = new EtcdLockHandle(outer, isNested: true);
            node.Handle = nested;
            return nested;
        }

        return null;
    }

    /// <summary>The full key, and its UTF-8 bytes, encoded once (strictly: what cannot be encoded is refused).</summary>
    private string BuildKey(string key, out ByteString keyBytes)
    {
        ArgumentNullException.ThrowIfNull(key);
        if (key.Length == 0)
        {
            throw new ArgumentException("The lock key is empty.", nameof(key));
        }

        string fullKey = _options.KeyPrefix + key;
        byte[] encoded;
        try
        {
            encoded = s_strictUtf8.GetBytes(fullKey);
        }
        catch (EncoderFallbackException)
        {
            // An unpaired surrogate has no UTF-8 form: it would be replaced, and two keys could become one.
            throw new ArgumentException("The lock key contains an unpaired UTF-16 surrogate; EtcdLockKeyFormatter.Segment escapes such values.", nameof(key));
        }

        int bytes = encoded.Length;
        if (bytes > _options.MaxKeyBytes)
        {
            throw new ArgumentException(
                $"The lock key is {bytes} bytes long (prefix included); at most {_options.MaxKeyBytes} are allowed (EtcdLockProviderOptions.MaxKeyBytes). Key starts with: '{fullKey[..Math.Min(64, fullKey.Length)]}'.",
                nameof(key));
        }

        keyBytes = UnsafeByteOperations.UnsafeWrap(encoded); // the array is ours alone and never changed
        return fullKey;
    }

    private async ValueTask<EtcdLockHandle?> AcquireCoreAsync(HeldLocks.Node node, string fullKey, ByteString keyBytes, int ttl, TimeSpan wait, bool throwWhenBusy, CancellationToken cancellationToken)
    {
        long start = Stopwatch.GetTimestamp();
        using Activity? activity = EtcdLockTelemetry.ActivitySource.StartActivity("AttributeLock.Acquire");
        activity?.SetTag("attributelock.key", fullKey);
        bool singleAttempt = wait == TimeSpan.Zero;

        // A separate token source only when a finite wait needs its own timer; otherwise the caller's token is enough.
        using CancellationTokenSource? timeoutCts = !singleAttempt && wait != Timeout.InfiniteTimeSpan
            ? CancellationTokenSource.CreateLinkedTokenSource(cancellationToken)
            : null;
        timeoutCts?.CancelAfter(wait);
        CancellationToken waitToken = timeoutCts?.Token ?? cancellationToken;

        LocalGates.Gate? gate = null;
        KeptLease? lease = null;
        string? holder = null;
        long waitedTicks = 0;
        bool acquired = false;
        try
        {
            try
            {
                long gateStart = Stopwatch.GetTimestamp();
                ValueTask<LocalGates.Gate?> entering = _gates.EnterAsync(fullKey, singleAttempt, waitToken);
                if (entering.IsCompleted)
                {
                    gate = await entering.ConfigureAwait(false);
                }
                else
                {
                    // Another caller of this process has the key: grant our lease while we queue, so that the hand-off
                    // costs the holder's revoke and our transaction (two consensus writes), not a grant on top.
                    Task<KeptLease> pregrant = GrantAsync(fullKey, ttl).AsTask();
                    try
                    {
                        gate = await entering.ConfigureAwait(false);
                    }
                    catch
                    {
                        await RevokeIfGrantedAsync(fullKey, pregrant).ConfigureAwait(false);
                        throw;
                    }

                    lease = await pregrant.ConfigureAwait(false);
                }

                waitedTicks += Stopwatch.GetTimestamp() - gateStart;
                if (gate is null)
                {
                    return Busy(fullKey, _gates.HolderOf(fullKey) ?? "another caller in this process", start, throwWhenBusy, activity);
                }

                // The value names this provider; together with the lease id (unique per attempt) it identifies
                // this acquisition, which is what recognising a retried transaction needs.
                ByteString valueBytes = _holderBytes;
                while (true)
                {
                    waitToken.ThrowIfCancellationRequested();
                    if (lease is null || lease.IsLost)
                    {
                        if (lease is not null)
                        {
                            await RevokeQuietlyAsync(fullKey, lease).ConfigureAwait(false);
                        }

                        lease = await GrantAsync(fullKey, ttl).ConfigureAwait(false);
                    }

                    TxnResponse answer;
                    try
                    {
                        answer = await _kv.TxnAsync(LockTransaction(keyBytes, valueBytes, lease.Id), CallOptions()).ConfigureAwait(false);
                    }
                    catch (RpcException ex) when (ex.StatusCode == StatusCode.NotFound)
                    {
                        // "requested lease not found": the lease expired before the transaction; grant a new one.
                        lease.MarkLost("the lease was not found by the lock transaction");
                        continue;
                    }
                    catch (Exception ex) when (ex is RpcException or OperationCanceledException)
                    {
                        // No caller token is passed to this call (it must not be cut half-way): a cancellation here is
                        // the deadline firing inside the client, so etcd did not answer in time.
                        throw Unavailable(fullKey, "the lock transaction", ex);
                    }

                    long fencingToken;
                    if (answer.Succeeded)
                    {
                        fencingToken = answer.Header.Revision;
                        _metrics.Transactions.Add(1, new KeyValuePair<string, object?>("outcome", "acquired"));
                    }
                    else
                    {
                        Mvccpb.KeyValue? current = answer.Responses.Count > 0 ? answer.Responses[0].ResponseRange?.Kvs.FirstOrDefault() : null;
                        if (current is not null && current.Lease == lease.Id && current.Value.Equals(valueBytes))
                        {
                            // Our own put, committed by an earlier attempt whose answer was lost and retried by the client.
                            Log.RecoveredRetriedTransaction(_logger, fullKey);
                            fencingToken = current.CreateRevision;
                            _metrics.Transactions.Add(1, new KeyValuePair<string, object?>("outcome", "recovered"));
                        }
                        else
                        {
                            _metrics.Transactions.Add(1, new KeyValuePair<string, object?>("outcome", "busy"));
                            holder = current?.Value.ToStringUtf8();
                            if (singleAttempt)
                            {
                                return Busy(fullKey, holder, start, throwWhenBusy, activity);
                            }

                            if (current is null)
                            {
                                continue;
                            }

                            Log.Waiting(_logger, fullKey, holder ?? "");
                            long waitStart = Stopwatch.GetTimestamp();
                            await WaitForReleaseAsync(fullKey, keyBytes, answer.Header.Revision, current.CreateRevision, waitToken).ConfigureAwait(false);
                            waitedTicks += Stopwatch.GetTimestamp() - waitStart;
                            continue;
                        }
                    }

                    if (lease.IsLost)
                    {
                        // Lost between the grant and now: the key may already be gone. Start over with a new lease.
                        continue;
                    }

                    var hold = new LockHold(this, fullKey, lease, fencingToken, gate, Stopwatch.GetTimestamp());
                    lease.OnLost(hold);
                    gate.Holder = HolderId;
                    var handle = new EtcdLockHandle(hold, isNested: false);
                    node.Handle = handle;
                    acquired = true;
                    double elapsedMs = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
                    _metrics.AcquireDuration.Record(elapsedMs);
                    _metrics.WaitDuration.Record(waitedTicks * 1000.0 / Stopwatch.Frequency);
                    activity?.SetTag("attributelock.fencing_token", fencingToken);
                    Log.Acquired(_logger, fullKey, lease.Id, fencingToken, elapsedMs);
                    return handle;
                }
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested && timeoutCts is { IsCancellationRequested: true })
            {
                return Busy(fullKey, holder ?? _gates.HolderOf(fullKey) ?? "another caller in this process", start, throwWhenBusy, activity);
            }
        }
        catch (Exception ex) when (ex is not EtcdLockTimeoutException)
        {
            activity?.SetStatus(ActivityStatusCode.Error, ex.Message);
            throw;
        }
        finally
        {
            if (!acquired)
            {
                node.Done = true;
                if (lease is not null)
                {
                    await RevokeQuietlyAsync(fullKey, lease).ConfigureAwait(false);
                }

                if (gate is not null)
                {
                    _gates.Exit(fullKey, gate);
                }
            }
        }
    }

    private EtcdLockHandle? Busy(string fullKey, string? holder, long start, bool throwWhenBusy, Activity? activity)
    {
        TimeSpan waited = Stopwatch.GetElapsedTime(start);
        _metrics.Timeouts.Add(1);
        _metrics.AcquireDuration.Record(waited.TotalMilliseconds);
        activity?.SetTag("attributelock.busy", true);
        if (throwWhenBusy)
        {
            throw new EtcdLockTimeoutException(fullKey, holder, waited);
        }

        return null;
    }

    private static TxnRequest LockTransaction(ByteString key, ByteString value, long leaseId)
    {
        var txn = new TxnRequest();
        txn.Compare.Add(new Compare
        {
            Key = key,
            Target = Compare.Types.CompareTarget.Version,
            Result = Compare.Types.CompareResult.Equal,
            Version = 0,
        });
        txn.Success.Add(new RequestOp { RequestPut = new PutRequest { Key = key, Value = value, Lease = leaseId } });
        txn.Failure.Add(new RequestOp { RequestRange = new RangeRequest { Key = key } });
        return txn;
    }

    private async ValueTask<KeptLease> GrantAsync(string fullKey, int ttl)
    {
        long sent = Stopwatch.GetTimestamp();
        LeaseGrantResponse granted;
        try
        {
            granted = await _leases.LeaseGrantAsync(new LeaseGrantRequest { TTL = ttl }, CallOptions()).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is RpcException or OperationCanceledException)
        {
            throw Unavailable(fullKey, "the lease grant", ex);
        }

        if (!string.IsNullOrEmpty(granted.Error))
        {
            throw new EtcdLockUnavailableException(fullKey, $"etcd refused the lease for lock '{fullKey}': {granted.Error}", null);
        }

        return _keeper.Register(granted.ID, granted.TTL, sent);
    }

    /// <summary>
    /// Waits until the key's holder may have changed: a DELETE event, the watch ending or failing, or a periodic read
    /// that shows another create revision. Never waits on a broken watch.
    /// </summary>
    private async Task WaitForReleaseAsync(string fullKey, ByteString key, long revision, long createRevision, CancellationToken cancellationToken)
    {
        using var callCts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        try
        {
            using var call = _watch.Watch(cancellationToken: callCts.Token);
            await call.RequestStream.WriteAsync(new WatchRequest
            {
                CreateRequest = new WatchCreateRequest
                {
                    Key = key,
                    StartRevision = revision + 1,
                    Filters = { WatchCreateRequest.Types.FilterType.Noput },
                },
            }, callCts.Token).ConfigureAwait(false);

            Task<bool>? next = null;
            while (true)
            {
                next ??= call.ResponseStream.MoveNext(callCts.Token);
                Task finished = await Task.WhenAny(next, Task.Delay(WatchRecheckInterval, cancellationToken)).ConfigureAwait(false);
                cancellationToken.ThrowIfCancellationRequested();
                if (finished != next)
                {
                    if (!await StillHeldAsync(key, createRevision).ConfigureAwait(false))
                    {
                        Log.WatchEnded(_logger, fullKey, "a periodic read found the holder changed");
                        return;
                    }

                    continue;
                }

                if (!await next.ConfigureAwait(false))
                {
                    Log.WatchEnded(_logger, fullKey, "the watch stream ended");
                    return;
                }

                next = null;
                WatchResponse response = call.ResponseStream.Current;
                if (response.Canceled)
                {
                    Log.WatchEnded(_logger, fullKey, $"etcd cancelled the watch: {response.CancelReason}");
                    return;
                }

                foreach (Mvccpb.Event e in response.Events)
                {
                    if (e.Type == Mvccpb.Event.Types.EventType.Delete)
                    {
                        return;
                    }
                }
            }
        }
        catch (Exception ex) when (!cancellationToken.IsCancellationRequested && ex is not OperationCanceledException)
        {
            Log.WatchEnded(_logger, fullKey, $"the watch failed: {ex.Message}");
        }
        finally
        {
            callCts.Cancel();
        }
    }

    private async ValueTask<bool> StillHeldAsync(ByteString key, long createRevision)
    {
        try
        {
            RangeResponse range = await _kv.RangeAsync(new RangeRequest { Key = key }, CallOptions()).ConfigureAwait(false);
            return range.Kvs.Count == 1 && range.Kvs[0].CreateRevision == createRevision;
        }
        catch (Exception ex) when (ex is RpcException or OperationCanceledException)
        {
            return false;
        }
    }

    internal async ValueTask ReleaseAsync(LockHold hold)
    {
        _keeper.Unregister(hold.Lease);
        try
        {
            await RevokeAsync(hold.Lease.Id).ConfigureAwait(false);
        }
        catch (Exception ex) when (IsLeaseGone(ex))
        {
            // Already expired or revoked: the key is gone either way.
        }
        catch (Exception ex)
        {
            Log.RevokeFailed(_logger, ex, hold.Key, hold.LeaseId);
        }
        finally
        {
            _gates.Exit(hold.Key, hold.Gate);
            double heldMs = Stopwatch.GetElapsedTime(hold.AcquiredTimestamp).TotalMilliseconds;
            _metrics.HoldDuration.Record(heldMs);
            Log.Released(_logger, hold.Key, hold.LeaseId, heldMs);
        }
    }

    /// <summary>Revokes a lease granted in the background once its grant finishes; a failed grant left nothing.</summary>
    private async ValueTask RevokeIfGrantedAsync(string fullKey, Task<KeptLease> granting)
    {
        KeptLease lease;
        try
        {
            lease = await granting.ConfigureAwait(false);
        }
        catch (EtcdLockUnavailableException)
        {
            return;
        }

        await RevokeQuietlyAsync(fullKey, lease).ConfigureAwait(false);
    }

    private async ValueTask RevokeQuietlyAsync(string fullKey, KeptLease lease)
    {
        _keeper.Unregister(lease);
        try
        {
            await RevokeAsync(lease.Id).ConfigureAwait(false);
        }
        catch (Exception ex) when (IsLeaseGone(ex))
        {
            // Already expired or revoked: nothing left behind.
        }
        catch (Exception ex)
        {
            Log.RevokeFailed(_logger, ex, fullKey, lease.Id);
        }
    }

    /// <summary>Revokes a lease (deleting its key). Callers treat NotFound (already expired or revoked) as done.</summary>
    private Task<LeaseRevokeResponse> RevokeAsync(long leaseId) =>
        _leases.LeaseRevokeAsync(new LeaseRevokeRequest { ID = leaseId }, CallOptions()).ResponseAsync;

    internal void OnHoldLost(LockHold hold, string reason)
    {
        Log.Lost(_logger, hold.Key, hold.LeaseId, hold.FencingToken, reason);
        _metrics.LostHolds.Add(1);
    }

    private static bool IsLeaseGone(Exception ex) => ex is RpcException { StatusCode: StatusCode.NotFound };

    private CallOptions CallOptions() => new(deadline: DateTime.UtcNow + _options.ConnectTimeout);

    private EtcdLockUnavailableException Unavailable(string fullKey, string what, Exception ex) =>
        new(fullKey,
            $"etcd ({_endpoints}) failed {what} for lock '{fullKey}' (timeout {_options.ConnectTimeout.TotalSeconds:0.#} s): " +
            (ex is RpcException rpc ? $"{rpc.StatusCode}: {rpc.Status.Detail}" : $"no answer in time ({ex.GetType().Name})"),
            ex);

    private static void Validate(EtcdLockProviderOptions options)
    {
        if (options.DefaultTtlSeconds < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(options), options.DefaultTtlSeconds, "DefaultTtlSeconds must be at least 1.");
        }

        if (options.ConnectTimeout <= TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(options), options.ConnectTimeout, "ConnectTimeout must be positive.");
        }

        if (options.MaxKeyBytes < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(options), options.MaxKeyBytes, "MaxKeyBytes must be positive.");
        }
    }

    internal static string NormalizeEndpoints(IEnumerable<string> endpoints, string defaultScheme = "http://")
    {
        var list = endpoints
            .SelectMany(e => (e ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            .Select(e => e.Contains("://", StringComparison.Ordinal) ? e : defaultScheme + e)
            .ToList();
        if (list.Count == 0)
        {
            throw new InvalidOperationException("No etcd endpoint is configured (EtcdLockProviderOptions.Endpoints is empty).");
        }

        return string.Join(",", list);
    }

    /// <summary>Stops keeping leases alive and closes the connection. Holds still open expire after their TTL.</summary>
    /// <returns>A task that completes when the provider has stopped.</returns>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        await _keeper.DisposeAsync().ConfigureAwait(false);
        _client.Dispose();
        _metrics.Dispose();
    }

    /// <summary>Same as <see cref="DisposeAsync"/>, blocking.</summary>
    public void Dispose() => DisposeAsync().AsTask().GetAwaiter().GetResult();
}
