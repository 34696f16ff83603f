using System.Diagnostics;
using AttributeLock;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using OrderService.Worker;

namespace OrderService.Journal;

/// <summary>A hold as the journal knows it: written at enter, completed by the exit entry.</summary>
/// <param name="Key">The lock key without the provider's prefix.</param>
/// <param name="Token">The fencing token.</param>
/// <param name="Lease">The lease id.</param>
/// <param name="Entered">When the body started (<see cref="Stopwatch"/> timestamp).</param>
/// <param name="Handle">
/// The hold's handle, taken from <see cref="EtcdLockContext.Current"/> when the body started. The store writes through
/// it (guarded writes). Taken early on purpose: <c>EtcdLockContext.Current</c> is <c>null</c> once the hold is known to be
/// lost, while the handle's guarded write still asks etcd, which refuses it and names the holder.
/// </param>
public sealed record HoldRecord(string Key, long Token, long Lease, long Entered, EtcdLockHandle Handle);

/// <summary>
/// The demo's audit trail in etcd. A locked body calls <see cref="EnterAsync"/> first; its data write carries the
/// <see cref="Exit"/> entry in the same transaction. A caller announces a call with <see cref="Calling"/>, so that a
/// wait longer than the workload's threshold is reported (with the holder) while it lasts.
/// </summary>
public sealed class HoldJournal
{
    private static readonly AsyncLocal<PendingCall?> s_pending = new();

    private readonly EtcdKv _kv;
    private readonly DataKeys _keys;
    private readonly WorkerSettings _me;
    private readonly Workload _workload;
    private readonly ILogger<HoldJournal> _logger;
    private readonly string _lockPrefix;
    private long _sequence;

    /// <summary>Creates the journal of this worker.</summary>
    /// <param name="kv">The etcd connection.</param>
    /// <param name="keys">The run's data keys.</param>
    /// <param name="me">This worker.</param>
    /// <param name="workload">The wait-reporting threshold.</param>
    /// <param name="lockOptions">The lock provider's options (its key prefix is cut from displayed keys).</param>
    /// <param name="logger">Where failed journal writes are logged.</param>
    public HoldJournal(EtcdKv kv, DataKeys keys, WorkerSettings me, Workload workload, IOptions<EtcdLockProviderOptions> lockOptions, ILogger<HoldJournal> logger)
    {
        _kv = kv;
        _keys = keys;
        _me = me;
        _workload = workload;
        _logger = logger;
        _lockPrefix = lockOptions.Value.KeyPrefix;
    }

    /// <summary>Records that this worker is up.</summary>
    /// <param name="ct">Cancels the write.</param>
    /// <returns>A task that completes when written.</returns>
    public Task ReadyAsync(CancellationToken ct) =>
        _kv.PutAsync(NextKey(), new JournalEvent { Kind = JournalEvent.Ready, Worker = _me.Name, Pid = Environment.ProcessId, At = Now() }.ToJson(), ct);

    /// <summary>
    /// Announces a call of a locked method on <paramref name="key"/> from the current async flow; dispose when the call
    /// returns. While the call waits for the lock longer than the threshold, a <see cref="JournalEvent.Waiting"/> entry
    /// names the holder.
    /// </summary>
    /// <param name="key">The lock key the call will take (without the provider's prefix).</param>
    /// <returns>The scope of the call.</returns>
    public IDisposable Calling(string key)
    {
        var call = new PendingCall(key, s_pending.Value);
        s_pending.Value = call;
        _ = ReportIfWaitingAsync(call);
        return call;
    }

    /// <summary>How long the current call (announced with <see cref="Calling"/>) has been waiting for or holding its lock.</summary>
    /// <returns>The time since the call was announced; zero without an announced call.</returns>
    public TimeSpan WaitedForCurrentLock() => s_pending.Value is { } call ? Stopwatch.GetElapsedTime(call.Started) : TimeSpan.Zero;

    /// <summary>Records that the current locked body started; call it first inside the body.</summary>
    /// <param name="note">Shown with the entry, may be empty.</param>
    /// <param name="ct">Cancels the write.</param>
    /// <returns>The hold, for the exit entry.</returns>
    public Task<HoldRecord> EnterAsync(string note, CancellationToken ct) => EnterAsync(note, read: null, ct);

    /// <summary>
    /// Records that the current locked body started, after <paramref name="read"/> (the body's read of its data): the
    /// entry then shows what the holder read, so that whoever follows the journal knows the read happened.
    /// </summary>
    /// <param name="note">Shown with the entry, may be empty.</param>
    /// <param name="read">Reads the body's data and describes what it read; <c>null</c>: nothing.</param>
    /// <param name="ct">Cancels the read and the write.</param>
    /// <returns>The hold, for the exit entry.</returns>
    public async Task<HoldRecord> EnterAsync(string note, Func<CancellationToken, Task<string>>? read, CancellationToken ct)
    {
        EtcdLockHandle handle = EtcdLockContext.Current ?? throw new InvalidOperationException("EnterAsync must be called inside a locked method.");
        string key = DisplayKey(handle.Key);
        double waited = 0;
        PendingCall? call = s_pending.Value;
        if (call is not null && IsKeyOf(call.Key, key) && call.TryEnter())
        {
            waited = Stopwatch.GetElapsedTime(call.Started).TotalMilliseconds;
        }

        long entered = Stopwatch.GetTimestamp();
        string whatWasRead = read is null ? "" : await read(ct);
        var entry = new JournalEvent
        {
            Kind = JournalEvent.Enter,
            Worker = _me.Name,
            Key = key,
            Token = handle.FencingToken,
            Lease = handle.LeaseId,
            TtlSeconds = handle.TtlSeconds,
            WaitedMs = waited,
            Detail = note,
            Read = whatWasRead,
            At = Now(),
        };
        await _kv.PutAsync(NextKey(), entry.ToJson(), ct);
        return new HoldRecord(key, handle.FencingToken, handle.LeaseId, entered, handle);
    }

    /// <summary>
    /// Records that this worker leads the election its <c>[EtcdLeader]</c> body runs in; call it first inside the body.
    /// </summary>
    /// <param name="ct">Cancels the write.</param>
    /// <returns>The leadership, for the <see cref="JournalEvent.Settle"/> entries written with the leader's data.</returns>
    public async Task<HoldRecord> LeadAsync(CancellationToken ct)
    {
        EtcdLockHandle handle = EtcdLockContext.Current ?? throw new InvalidOperationException("LeadAsync must be called inside an [EtcdLeader] body.");
        string key = DisplayKey(handle.Key);
        await _kv.PutAsync(NextKey(), new JournalEvent
        {
            Kind = JournalEvent.Lead,
            Worker = _me.Name,
            Key = key,
            Token = handle.FencingToken,
            Lease = handle.LeaseId,
            TtlSeconds = handle.TtlSeconds,
            At = Now(),
        }.ToJson(), ct);
        return new HoldRecord(key, handle.FencingToken, handle.LeaseId, Stopwatch.GetTimestamp(), handle);
    }

    /// <summary>The exit entry of <paramref name="hold"/>, to be written in the same transaction as the hold's data.</summary>
    /// <param name="hold">The hold.</param>
    /// <param name="detail">What the hold did.</param>
    /// <returns>The journal key and value.</returns>
    public (string Key, string Value) Exit(HoldRecord hold, string detail) => Entry(JournalEvent.Exit, hold, detail);

    /// <summary>An entry of <paramref name="kind"/> about <paramref name="hold"/>, to be written with the hold's data.</summary>
    /// <param name="kind"><see cref="JournalEvent.Exit"/> or <see cref="JournalEvent.Settle"/>.</param>
    /// <param name="hold">The hold.</param>
    /// <param name="detail">What the hold did.</param>
    /// <returns>The journal key and value.</returns>
    public (string Key, string Value) Entry(string kind, HoldRecord hold, string detail) => (NextKey(), new JournalEvent
    {
        Kind = kind,
        Worker = _me.Name,
        Key = hold.Key,
        Token = hold.Token,
        Lease = hold.Lease,
        HeldMs = Stopwatch.GetElapsedTime(hold.Entered).TotalMilliseconds,
        Detail = detail,
        At = Now(),
    }.ToJson());

    /// <summary>Records that etcd refused the guarded write of <paramref name="hold"/> (a plain put: the journal is the demo's audit trail, not data the lock protects).</summary>
    /// <param name="hold">The hold whose write was refused.</param>
    /// <param name="detail">What the write would have done.</param>
    /// <param name="refusal">etcd's answer.</param>
    /// <returns>A task that completes when written.</returns>
    public Task RefusedAsync(HoldRecord hold, string detail, EtcdLockNotHeldException refusal) =>
        _kv.PutAsync(NextKey(), new JournalEvent
        {
            Kind = JournalEvent.Refused,
            Worker = _me.Name,
            Key = hold.Key,
            Token = hold.Token,
            Lease = hold.Lease,
            CurrentToken = refusal.CurrentFencingToken ?? 0,
            Holder = refusal.CurrentHolder ?? "",
            HeldMs = Stopwatch.GetElapsedTime(hold.Entered).TotalMilliseconds,
            Detail = detail,
            At = Now(),
        }.ToJson(), CancellationToken.None);

    /// <summary>Records that a skippable call found its lock busy.</summary>
    /// <param name="key">The lock key (without the provider's prefix).</param>
    /// <param name="ct">Cancels the write.</param>
    /// <returns>A task that completes when written.</returns>
    public async Task SkippedAsync(string key, CancellationToken ct)
    {
        Mvccpb.KeyValue? holder = await _kv.GetAsync(_lockPrefix + key, ct);
        await _kv.PutAsync(NextKey(), new JournalEvent
        {
            Kind = JournalEvent.Skip,
            Worker = _me.Name,
            Key = key,
            Token = holder?.CreateRevision ?? 0,
            Holder = holder?.Value.ToStringUtf8() ?? "",
            At = Now(),
        }.ToJson(), ct);
    }

    private async Task ReportIfWaitingAsync(PendingCall call)
    {
        try
        {
            await Task.Delay(_workload.ReportWaitsAfter, call.Done);
            Mvccpb.KeyValue? holder = await _kv.GetAsync(_lockPrefix + call.Key, call.Done);
            string holders = holder?.Value.ToStringUtf8() ?? "";
            if (holder is null)
            {
                // A semaphore or a reader-writer lock: its holders and waiters are keys below it (/#sem/…, /#rw/…),
                // oldest first. Named here: every one of them, with its fencing token (what the wait is behind).
                (List<Mvccpb.KeyValue> tickets, _) = await _kv.RangeAsync(_lockPrefix + call.Key + "/#", ct: call.Done);
                holders = string.Join(" | ", tickets.OrderBy(t => t.CreateRevision).Select(t =>
                    $"{t.Key.ToStringUtf8()[(_lockPrefix + call.Key).Length..]} #{t.CreateRevision} {t.Value.ToStringUtf8()}"));
            }

            if (!call.TryReport())
            {
                return;
            }

            await _kv.PutAsync(NextKey(), new JournalEvent
            {
                Kind = JournalEvent.Waiting,
                Worker = _me.Name,
                Key = call.Key,
                Token = holder?.CreateRevision ?? 0,
                Lease = holder?.Lease ?? 0,
                Holder = holders,
                WaitedMs = Stopwatch.GetElapsedTime(call.Started).TotalMilliseconds,
                At = Now(),
            }.ToJson(), CancellationToken.None);
        }
        catch (OperationCanceledException)
        {
            // The call got its lock (or ended) before the threshold: nothing to report.
        }
        catch (Exception ex)
        {
            _logger.LogWarning(ex, "Could not journal the wait for {Key}", call.Key);
        }
    }

    /// <summary>
    /// <c>true</c> when a hold of <paramref name="heldKey"/> is what a call of <paramref name="callKey"/> waited for: the
    /// same key, or a ticket below it (a semaphore's or a reader-writer lock's, <c>/#…</c>).
    /// </summary>
    private static bool IsKeyOf(string callKey, string heldKey) =>
        heldKey == callKey || heldKey.StartsWith(callKey + "/#", StringComparison.Ordinal);

    private string DisplayKey(string fullKey) =>
        fullKey.StartsWith(_lockPrefix, StringComparison.Ordinal) ? fullKey[_lockPrefix.Length..] : fullKey;

    private string NextKey() => _keys.JournalEntry(_me.Name, Interlocked.Increment(ref _sequence));

    private static long Now() => DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();

    private sealed class PendingCall(string key, PendingCall? outer) : IDisposable
    {
        private readonly CancellationTokenSource _done = new();
        private int _state; // 0 waiting, 1 entered, 2 reported

        public string Key { get; } = key;

        public long Started { get; } = Stopwatch.GetTimestamp();

        public CancellationToken Done => _done.Token;

        public bool TryEnter()
        {
            int before = Interlocked.Exchange(ref _state, 1);
            _done.Cancel();
            return before != 1;
        }

        public bool TryReport() => Interlocked.CompareExchange(ref _state, 2, 0) == 0;

        public void Dispose()
        {
            _done.Cancel();
            s_pending.Value = outer;
        }
    }
}
