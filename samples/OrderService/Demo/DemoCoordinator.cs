using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text.RegularExpressions;
using AttributeLock;
using Microsoft.Extensions.Configuration;
using OrderService.Journal;
using OrderService.Orders;

namespace OrderService.Demo;

/// <summary>
/// The demo: starts the workers, follows the journal in etcd to show the timeline, kills one worker inside a hold,
/// shows the takeover, freezes another one (SIGSTOP) right before its write until its lock is someone else's and shows
/// what happens to its late write, shows the settlement leader, the reports' semaphore and a catalog reader-writer lock
/// at work and kills the leader (phase 3b), runs the load phase with a progress line, stops everything and verifies
/// the run.
/// </summary>
public sealed partial class DemoCoordinator
{
    private const string LongCallNote = "slow gateway call";
    private const string Election = "/leaders/settlement";

    private readonly DemoOptions _options;
    private readonly Screen _screen = new();
    private readonly EtcdKv _kv;
    private readonly DataKeys _keys;
    private readonly EtcdLockProviderOptions _lockOptions;
    private readonly string _run;
    private readonly long _t0 = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
    private readonly List<WorkerProcess> _workers = new();
    private readonly ConcurrentQueue<JournalEvent> _incoming = new();
    private readonly Dictionary<int, string> _pidNames = new();
    private readonly HashSet<string> _ready = new();
    private readonly Dictionary<string, JournalEvent> _holders = new();
    private Phase _phase = Phase.Starting;
    private int _completed;
    private int _contended;
    private int _skips;
    private double _maxWaitMs;
    private WorkerProcess? _victim;
    private JournalEvent? _crashHold;
    private long _killedAt;
    private long _lastLeaseTtlShown = long.MinValue;
    private bool _freeShown;
    private JournalEvent? _takeover;
    private string? _takeoverLine;
    private WorkerProcess? _replacement;
    private WorkerProcess? _paused;
    private PausePoint? _pausePoint;
    private long _stoppedAt;
    private long _pauseLastTtlShown = long.MinValue;
    private bool _pauseFreeShown;
    private JournalEvent? _pauseTakeover;
    private JournalEvent? _staleWrite;
    private JournalEvent? _takeoverWrite;
    private string? _pauseLine;
    private EtcdLockProvider? _observer;
    private readonly CancellationTokenSource _stopObserving = new();
    private Task _observing = Task.CompletedTask;
    private readonly ConcurrentQueue<(long At, EtcdLeaderInfo? Leader)> _leaderChanges = new();
    private EtcdLeaderInfo? _oldLeader;
    private string _oldLeaderName = "";
    private long _leaderKilledAt;
    private EtcdLeaderInfo? _newLeader;
    private JournalEvent? _newLeaderSettle;
    private string? _leaderLine;
    private bool _reportMoment;
    private bool _catalogMoment;
    private long _lastSettleTokenShown;
    private long _newLeaderAt;

    private DemoCoordinator(DemoOptions options, EtcdKv kv, DataKeys keys, EtcdLockProviderOptions lockOptions, string run)
    {
        _options = options;
        _kv = kv;
        _keys = keys;
        _lockOptions = lockOptions;
        _run = run;
    }

    private enum Phase
    {
        Starting,
        Slow,
        Arming,
        Crashed,
        Replacing,
        PauseArming,
        Paused,
        Resumed,
        Showcase,
        LeaderKilled,
        Load,
        Stopping,
    }

    private bool Verbose => _phase is Phase.Starting or Phase.Slow or Phase.Arming or Phase.Crashed
        or Phase.Replacing or Phase.PauseArming or Phase.Paused or Phase.Resumed;

    /// <summary>The new phase (3b): leader, semaphore and reader-writer lock lines are shown only there.</summary>
    private bool LeaderPhase => _phase is Phase.Showcase or Phase.LeaderKilled;

    private bool Guarded => !_options.Unguarded;

    /// <summary>Runs the demo.</summary>
    /// <param name="options">The command-line options.</param>
    /// <returns>The exit code: 0 when every check passed.</returns>
    public static async Task<int> RunAsync(DemoOptions options)
    {
        IConfiguration configuration = SampleSettings.Load();
        string run = $"run-{DateTime.UtcNow:yyyyMMdd-HHmmss}-{Guid.NewGuid().ToString("N")[..4]}";
        EtcdLockProviderOptions lockOptions = SampleSettings.LockOptions(configuration, run);
        using var kv = new EtcdKv(SampleSettings.Endpoints(lockOptions));
        var demo = new DemoCoordinator(options, kv, SampleSettings.Keys(configuration, run), lockOptions, run);
        using var interrupted = new CancellationTokenSource();
        ConsoleCancelEventHandler onCancel = (_, e) =>
        {
            e.Cancel = true;
            interrupted.Cancel();
        };
        Console.CancelKeyPress += onCancel;
        try
        {
            return await demo.RunCoreAsync(interrupted.Token);
        }
        finally
        {
            Console.CancelKeyPress -= onCancel;
            await demo._stopObserving.CancelAsync();
            await demo._observing;
            if (demo._observer is not null)
            {
                await demo._observer.DisposeAsync();
            }

            demo._stopObserving.Dispose();
            foreach (WorkerProcess w in demo._workers)
            {
                w.Dispose();
            }
        }
    }

    private async Task<int> RunCoreAsync(CancellationToken interrupted)
    {
        _screen.Line($"OrderService demo, run {_run}, etcd {_kv.Endpoints}");
        long startRevision;
        try
        {
            startRevision = await _kv.PutAsync(_keys.Root + "/started", _t0.ToString(System.Globalization.CultureInfo.InvariantCulture), interrupted);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            Console.Error.WriteLine($"error: cannot reach etcd at {_kv.Endpoints}: {ex.Message}");
            Console.Error.WriteLine("Set ETCD_ENDPOINTS to a running etcd, or unset it to let ./run-demo.sh start one.");
            return 1;
        }

        _screen.Line($"  lock keys under {_lockOptions.KeyPrefix}: /orders/<orderId> (TTL {_lockOptions.DefaultTtlSeconds} s), /customers/<order.CustomerId>, /jobs/settlement (skip when busy)");
        _screen.Line($"  and {Election} ([EtcdLeader], TTL {Worker.SettlementLeader.TtlSeconds} s), /reports/settlement (semaphore, MaxCount {BackOffice.ReportSlots}), /catalog/<sku> (reader-writer lock)");
        _screen.Line($"  data and journal under {_keys.Root}");
        _screen.Line($"  {_options.Workers} workers (+1 replacing the one killed), {_options.Orders} orders, {_options.DurationSeconds} s{(_options.Short ? " (--short)" : "")}");
        _screen.Line(Guarded
            ? "  writes are guarded (WriteIfHeldAsync): etcd applies one only while the writer's lock key still has the writer's fencing token as create revision"
            : "  --unguarded: writes are plain puts after a client-side cancellation check (no guard in etcd): expect a lost update in phase 3");
        _screen.Line();
        _screen.Line($"phase 1, slow motion: every second all workers go for the same order (1-{Math.Min(3, _options.Orders)} in turn); a payment takes 300 ms");
        _screen.Line("  ▶ holds = acquired the lock (fencing token = the lock key's etcd create revision), ◀ frees = wrote and released");

        // The timeline follows the journal with a watch (every entry once, in etcd revision order); the verification
        // reads the whole journal again at the end.
        using var stopWatching = new CancellationTokenSource();
        Task watching = FollowJournalAsync(startRevision + 1, stopWatching.Token);
        for (int i = 1; i <= _options.Workers; i++)
        {
            _workers.Add(WorkerProcess.Start($"w{i}", _run, load: false, _options.Orders, Guarded, _screen));
        }

        var clock = Stopwatch.StartNew();
        TimeSpan phaseStart = clock.Elapsed, runStart = clock.Elapsed, lastStatus = TimeSpan.Zero;
        int completedAtLastStatus = 0;
        string? failure = null;
        while (failure is null)
        {
            if (interrupted.IsCancellationRequested)
            {
                _screen.EndStatus();
                _screen.Line("interrupted: stopping the workers");
                return 130;
            }

            Drain();
            TimeSpan now = clock.Elapsed, inPhase = now - phaseStart;
            WorkerProcess? died = _workers.FirstOrDefault(w => w.HasExited && !w.Killed);
            if (died is not null)
            {
                failure = $"worker {died.Name} exited unexpectedly (code {died.ExitCode})";
                break;
            }

            switch (_phase)
            {
                case Phase.Starting when _ready.Count == _options.Workers:
                    _phase = Phase.Slow;
                    phaseStart = runStart = now;
                    break;
                case Phase.Starting when inPhase > TimeSpan.FromSeconds(60):
                    failure = "the workers did not start within 60 s";
                    break;
                case Phase.Slow when inPhase >= TimeSpan.FromSeconds(_options.SlowSeconds):
                    _victim = _workers[0];
                    _screen.Line();
                    _screen.Line($"phase 2, crash: {_victim.Name}'s next payment hangs in a {LongCallNote}; it gets killed (SIGKILL) while it holds the order's lock");
                    _victim.Send("long-call");
                    _phase = Phase.Arming;
                    phaseStart = now;
                    break;
                case Phase.Arming when _crashHold is not null:
                    await KillVictimAsync();
                    _phase = Phase.Crashed;
                    phaseStart = now;
                    break;
                case Phase.Arming when inPhase > TimeSpan.FromSeconds(20):
                    failure = $"{_victim!.Name} did not start its hanging payment within 20 s";
                    break;
                case Phase.Crashed when _takeover is not null:
                    _replacement = WorkerProcess.Start($"w{_workers.Count + 1}", _run, load: false, _options.Orders, Guarded, _screen, replacement: true);
                    _workers.Add(_replacement);
                    _screen.Line($"           {_replacement.Name} started to replace {_victim!.Name} (pid {_replacement.Pid})");
                    _phase = Phase.Replacing;
                    phaseStart = now;
                    break;
                case Phase.Replacing when _ready.Contains(_replacement!.Name):
                    _paused = _workers.First(w => !w.Killed && w != _replacement);
                    _screen.Line();
                    _screen.Line($"phase 3, pause: {_paused.Name}'s next payment stops right before its write, after its cancellation check passed; there it gets frozen");
                    _screen.Line($"  with SIGSTOP (like a long GC pause or a frozen VM) for longer than the TTL, another worker takes the order, then SIGCONT: the write goes out late,");
                    _screen.Line(Guarded
                        ? "  with the old fencing token; it is a guarded write, so etcd compares the lock key's create revision with that token first"
                        : "  with the old fencing token, as a plain put (--unguarded): nothing checks it any more");
                    _paused.Send("pause-at-write");
                    _phase = Phase.PauseArming;
                    phaseStart = now;
                    break;
                case Phase.Replacing when inPhase > TimeSpan.FromSeconds(60):
                    failure = $"the replacement {_replacement!.Name} did not start within 60 s";
                    break;
                case Phase.PauseArming when _paused!.TryTakeSignal(out string signal) && PausePoint.TryParse(signal, out PausePoint? point):
                    _pausePoint = point;
                    FreezePausedWorker();
                    _phase = Phase.Paused;
                    phaseStart = now;
                    break;
                case Phase.PauseArming when inPhase > TimeSpan.FromSeconds(20):
                    failure = $"{_paused!.Name} did not reach its pause point within 20 s";
                    break;
                case Phase.Paused when _pauseTakeover is not null
                    && DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() - _stoppedAt >= (_pausePoint!.TtlSeconds * 1000) + 200:
                    await ResumePausedWorkerAsync();
                    _phase = Phase.Resumed;
                    phaseStart = now;
                    break;
                case Phase.Paused:
                    // Resumed once another worker holds the key and the stop has lasted longer than the TTL.
                    await ShowPausedLockAsync();
                    if (inPhase > TimeSpan.FromSeconds(40))
                    {
                        failure = $"no worker took {_pausePoint!.Key} over within 40 s of the SIGSTOP";
                    }

                    break;
                case Phase.Resumed when _staleWrite is not null && _takeoverWrite is not null:
                    ShowPauseOutcome();
                    failure = await StartLeaderPhaseAsync();
                    _phase = Phase.Showcase;
                    phaseStart = now;
                    break;
                case Phase.Showcase when (_reportMoment && _catalogMoment) || inPhase > TimeSpan.FromSeconds(_options.Short ? 6 : 10):
                    if (!_reportMoment || !_catalogMoment)
                    {
                        _screen.Line($"           (not seen within {inPhase.TotalSeconds:0} s:{(_reportMoment ? "" : " a report waiting while 2 held tickets")}{(_catalogMoment ? "" : " an update waiting for readers side by side")})");
                    }

                    failure = KillLeader();
                    _phase = Phase.LeaderKilled;
                    phaseStart = now;
                    break;
                case Phase.LeaderKilled when _newLeader is not null && _newLeaderSettle is not null:
                    _screen.Line();
                    _screen.Line($"phase 4, load: {_workers.Count(w => !w.Killed)} workers × {Worker.Workload.MaxHandlers} handlers on {_options.Orders} orders, millisecond payments; settlement every 2 s");
                    foreach (WorkerProcess w in _workers.Where(w => !w.Killed))
                    {
                        w.Send("slow-order 0");
                        w.Send("load");
                    }

                    _phase = Phase.Load;
                    phaseStart = now;
                    completedAtLastStatus = _completed;
                    lastStatus = now;
                    break;
                case Phase.LeaderKilled when inPhase > TimeSpan.FromSeconds(30):
                    failure = _newLeader is null
                        ? $"no new leader of {Election} within 30 s of the leader's kill"
                        : $"the new leader {HolderName(_newLeader.Holder)} did not settle within 30 s of the kill";
                    break;
                case Phase.LeaderKilled:
                    DrainLeaderChanges();
                    break;
                case Phase.Resumed when inPhase > TimeSpan.FromSeconds(30):
                    failure = _staleWrite is null
                        ? $"{_paused!.Name} neither wrote nor was refused within 30 s of the SIGCONT"
                        : $"{_pauseTakeover!.Worker} did not finish its payment of {_pauseTakeover.Key} within 30 s";
                    break;
                case Phase.Crashed:
                    await ShowCrashedLockAsync();
                    if (inPhase > TimeSpan.FromSeconds(40))
                    {
                        failure = $"no worker took {_crashHold!.Key} over within 40 s of the kill";
                    }

                    break;
                case Phase.Load:
                    bool done = now - runStart >= TimeSpan.FromSeconds(_options.DurationSeconds) && inPhase >= TimeSpan.FromSeconds(3);
                    TimeSpan every = _screen.IsTerminal ? TimeSpan.FromMilliseconds(250) : TimeSpan.FromSeconds(2);
                    if (now - lastStatus >= every || done)
                    {
                        double rate = (_completed - completedAtLastStatus) / Math.Max(0.001, (now - lastStatus).TotalSeconds);
                        _screen.Status(Progress(now - runStart, rate));
                        completedAtLastStatus = _completed;
                        lastStatus = now;
                    }

                    if (done)
                    {
                        _screen.EndStatus();
                        _phase = Phase.Stopping;
                    }

                    break;
            }

            if (_phase == Phase.Stopping)
            {
                break;
            }

            await Task.Delay(100, CancellationToken.None);
        }

        _screen.EndStatus();
        if (failure is not null)
        {
            _screen.Line($"error: {failure}");
        }

        _screen.Line();
        _screen.Line("phase 5, stop: the workers finish the payment in hand, release their locks and exit");
        foreach (WorkerProcess w in _workers.Where(w => !w.HasExited))
        {
            if (w.Stopped)
            {
                w.Resume();
                w.Send("resume-write");
            }

            w.Send("stop");
        }

        foreach (WorkerProcess w in _workers)
        {
            if (!await w.WaitForExitAsync(TimeSpan.FromSeconds(30)))
            {
                _screen.Line($"  {w.Name} did not stop within 30 s: killed");
                w.KillHard();
            }
        }

        await Task.Delay(300, CancellationToken.None);
        Drain();
        await _stopObserving.CancelAsync();
        await _observing;
        await stopWatching.CancelAsync();
        await watching;
        return await VerifyAsync(failure);
    }

    private async Task FollowJournalAsync(long fromRevision, CancellationToken ct)
    {
        long next = fromRevision;
        while (!ct.IsCancellationRequested)
        {
            try
            {
                await _kv.WatchPutsAsync(_keys.JournalPrefix, next, kv =>
                {
                    _incoming.Enqueue(JournalEvent.Parse(kv.Value.ToStringUtf8(), kv.ModRevision));
                    next = kv.ModRevision + 1;
                }, ct);
            }
            catch (Exception) when (ct.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex)
            {
                _screen.Line($"           (the journal watch failed: {ex.Message}; watching again from revision {next})");
                await Task.Delay(200, CancellationToken.None);
            }
        }
    }

    private void Drain()
    {
        while (_incoming.TryDequeue(out JournalEvent? e))
        {
            Handle(e);
        }
    }

    private void Handle(JournalEvent e)
    {
        string at = $"+{(e.At - _t0) / 1000.0,6:0.00}s";
        bool customer = e.Key.StartsWith("/customers/", StringComparison.Ordinal);
        if (IsBackOffice(e))
        {
            HandleBackOffice(e, at);
            return;
        }

        switch (e.Kind)
        {
            case JournalEvent.Ready:
                _pidNames[e.Pid] = e.Worker;
                _ready.Add(e.Worker);
                if (Verbose || LeaderPhase)
                {
                    _screen.Line($"  {at}  {e.Worker,-3}  is up (pid {e.Pid})");
                }

                break;

            case JournalEvent.Enter:
                _holders[e.Key] = e;
                _maxWaitMs = Math.Max(_maxWaitMs, e.WaitedMs);
                if (e.WaitedMs >= 10)
                {
                    _contended++;
                }

                if (_phase == Phase.Arming && _victim is not null && e.Worker == _victim.Name && e.Detail == LongCallNote)
                {
                    _crashHold = e;
                }

                if (Verbose && !customer)
                {
                    string waited = e.WaitedMs >= 1 ? $"  waited {e.WaitedMs:0} ms" : "";
                    string read = e.Read.Length > 0 ? $", read {e.Read}" : "";
                    string note = e.Detail.Length > 0 ? $"  ({e.Detail})" : "";
                    _screen.Line($"  {at}  {e.Worker,-3}  ▶ holds  {e.Key,-17} fencing token {e.Token}{waited}{read}{note}");
                }

                if (_phase == Phase.Paused && _pauseTakeover is null && _pausePoint is not null && e.Key == _pausePoint.Key && e.Worker != _paused!.Name)
                {
                    _pauseTakeover = e;
                    double after = (e.At - _stoppedAt) / 1000.0;
                    string bigger = e.Token > _pausePoint.Token ? ">" : "NOT >";
                    _screen.Line($"           ↳ {e.Worker} took {e.Key} while {_paused.Name} is stopped (its lease expired): fencing token {e.Token} {bigger} {_pausePoint.Token}, {after:0.0} s after the SIGSTOP;");
                    _screen.Line($"             it read {e.Read}, the value {_paused.Name} read before it stopped");
                }

                if (_phase == Phase.Crashed && _takeover is null && _crashHold is not null && e.Key == _crashHold.Key && e.Worker != _crashHold.Worker)
                {
                    _takeover = e;
                    double after = (e.At - _killedAt) / 1000.0;
                    _takeoverLine = $"crash takeover: {e.Key} from killed {_crashHold.Worker} (fencing token {_crashHold.Token}) to {e.Worker} (fencing token {e.Token}), {after:0.0} s after the kill";
                    string bigger = e.Token > _crashHold.Token ? ">" : "NOT >";
                    _screen.Line($"           ↳ {e.Worker} took over {e.Key}: fencing token {e.Token} {bigger} {_crashHold.Token}, {after:0.0} s after the kill, after waiting {e.WaitedMs / 1000.0:0.0} s");
                    _screen.Line($"           {_takeoverLine}");
                }

                break;

            case JournalEvent.Exit:
                _completed++;
                if (_holders.TryGetValue(e.Key, out JournalEvent? holder) && holder.Token == e.Token)
                {
                    _holders.Remove(e.Key);
                }

                if (_pausePoint is not null && e.Key == _pausePoint.Key && e.Token == _pausePoint.Token && e.Worker == _paused!.Name)
                {
                    // The stopped worker's late write landed: a plain put (--unguarded), or a guard that failed.
                    _staleWrite = e;
                    string holderNow = _pauseTakeover is null ? "another worker" : $"{_pauseTakeover.Worker} (fencing token {_pauseTakeover.Token})";
                    _screen.Line($"  {at}  {e.Worker,-3}  ◀ WROTE  {e.Key,-17} {e.Detail} with its stale fencing token {e.Token}{(Guarded ? "" : ", a plain put")}: applied, though {holderNow} holds the lock");
                    break;
                }

                if (Verbose && !customer)
                {
                    _screen.Line($"  {at}  {e.Worker,-3}  ◀ frees  {e.Key,-17} {e.Detail}, held {e.HeldMs:0} ms");
                }

                if (_pauseTakeover is not null && e.Key == _pauseTakeover.Key && e.Token == _pauseTakeover.Token && e.Worker == _pauseTakeover.Worker)
                {
                    _takeoverWrite = e;
                    if (_staleWrite is { Kind: JournalEvent.Exit })
                    {
                        _screen.Line($"           ↳ {e.Worker} and the resumed {_staleWrite.Worker} both read {_pauseTakeover.Read} and both wrote {e.Detail}: one of the two payments is lost");
                    }
                }

                break;

            case JournalEvent.Refused:
                // Guarded writes: etcd refused a write of a hold that had lost its key; nothing was written.
                if (_pausePoint is not null && e.Key == _pausePoint.Key && e.Token == _pausePoint.Token && e.Worker == _paused!.Name)
                {
                    _staleWrite = e;
                }

                string now = e.CurrentToken == 0
                    ? "the lock key is gone"
                    : $"the lock key's create revision is {e.CurrentToken} now ({HolderName(e.Holder)} holds it)";
                _screen.Line($"  {at}  {e.Worker,-3}  ✋ REFUSED {e.Key,-16} etcd refused its write ({e.Detail}) with fencing token {e.Token}: {now}, not {e.Token}; nothing written");
                break;

            case JournalEvent.Waiting:
                // An empty holder: the lock was released between the wait and the look; nothing to show.
                if (e.Holder.Length > 0 && (Verbose || e.WaitedMs >= 1000))
                {
                    _screen.Line($"  {at}  {e.Worker,-3}  … waits  {e.Key,-17} held by {HolderName(e.Holder)} (fencing token {e.Token}), {e.WaitedMs:0} ms so far");
                }

                break;

            case JournalEvent.Skip:
                _skips++;
                if (Verbose)
                {
                    _screen.Line($"  {at}  {e.Worker,-3}  ↷ skips  {e.Key,-17} busy: {HolderName(e.Holder)} runs it (fencing token {e.Token})");
                }

                break;
        }
    }

    /// <summary>
    /// Entries of the semaphore, the reader-writer locks and the leader (their keys have a <c>/#…</c> ticket part, their
    /// waits name the primitive's key): counted always, shown only in phase 3b.
    /// </summary>
    private static bool IsBackOffice(JournalEvent e) =>
        e.Kind is JournalEvent.Lead or JournalEvent.Settle
        || e.Key.Contains("/#", StringComparison.Ordinal)
        || (e.Kind == JournalEvent.Waiting && (e.Key.StartsWith("/reports/", StringComparison.Ordinal) || e.Key.StartsWith("/catalog/", StringComparison.Ordinal)));

    /// <summary>A ticket key without its lease part: <c>/reports/settlement/#sem</c>, <c>/catalog/SKU-1/#rw/r</c>.</summary>
    private static string Primitive(string key) => key.Contains("/#", StringComparison.Ordinal) ? key[..key.LastIndexOf('/')] : key;

    private void HandleBackOffice(JournalEvent e, string at)
    {
        // Phase 3b shows the showcase's reports and SKU-1's reads and updates until the leader is killed, then the takeover.
        bool shown = _phase == Phase.Showcase && (e.Key.StartsWith("/reports/", StringComparison.Ordinal) || e.Key.StartsWith("/catalog/SKU-1", StringComparison.Ordinal));
        switch (e.Kind)
        {
            case JournalEvent.Enter:
                if (e.WaitedMs >= 10)
                {
                    _contended++;
                }

                if (shown)
                {
                    string waited = e.WaitedMs >= 1 ? $"  waited {e.WaitedMs:0} ms" : "";
                    string read = e.Read.Length > 0 ? $", read {e.Read}" : "";
                    _screen.Line($"  {at}  {e.Worker,-3}  ▶ holds  {Primitive(e.Key),-24} fencing token {e.Token}{waited}{read}");
                }

                break;

            case JournalEvent.Exit:
                _completed++;
                if (shown)
                {
                    _screen.Line($"  {at}  {e.Worker,-3}  ◀ frees  {Primitive(e.Key),-24} fencing token {e.Token}: {e.Detail}, held {e.HeldMs:0} ms");
                }

                break;

            case JournalEvent.Settle:
                _completed++;
                if (_phase == Phase.LeaderKilled && _newLeader is not null && _newLeaderSettle is null && e.Token == _newLeader.FencingToken)
                {
                    _newLeaderSettle = e;
                    _leaderLine = $"leader takeover: {Election} from killed {_oldLeaderName} (fencing token {_oldLeader!.FencingToken}) to {e.Worker} (fencing token {e.Token}), {(_newLeaderAt - _leaderKilledAt) / 1000.0:0.0} s after the kill (TTL {Worker.SettlementLeader.TtlSeconds} s)";
                    _screen.Line($"  {at}  {e.Worker,-3}  ⚖ settles  counter → {e.Detail} with its leader fencing token {e.Token} (a guarded write: applied only while it leads)");
                    _screen.Line($"           {_leaderLine}");
                }
                else if (LeaderPhase && e.Token != _lastSettleTokenShown)
                {
                    _screen.Line($"  {at}  {e.Worker,-3}  ⚖ settles  counter → {e.Detail} with its leader fencing token {e.Token}, every {Worker.Workload.SettleEvery.TotalMilliseconds:0} ms while it leads");
                }

                if (LeaderPhase)
                {
                    _lastSettleTokenShown = e.Token;
                }

                break;

            case JournalEvent.Lead:
                if (LeaderPhase)
                {
                    _screen.Line($"  {at}  {e.Worker,-3}  ♛ leads  {Election,-24} fencing token {e.Token} (its [EtcdLeader] body started: journal)");
                }

                break;

            case JournalEvent.Waiting when e.Holder.Length > 0:
                if (_phase != Phase.Showcase)
                {
                    break;
                }

                // The tickets below the key at that moment, oldest first (what etcd serves first come, first served).
                List<(string Kind, long Token, string Worker)> tickets = e.Holder.Split(" | ").Select(t =>
                {
                    string[] f = t.Split(' ', 3);
                    return (Kind: f[0][..f[0].LastIndexOf('/')], Token: long.Parse(f[1].TrimStart('#'), System.Globalization.CultureInfo.InvariantCulture), Worker: HolderName(f.Length > 2 ? f[2] : ""));
                }).ToList();
                string list = string.Join(", ", tickets.Select(t => $"{t.Worker} #{t.Token}{(t.Kind.EndsWith("/r", StringComparison.Ordinal) ? " read" : t.Kind.EndsWith("/w", StringComparison.Ordinal) ? " write" : "")}"));
                if (e.Key.StartsWith("/reports/", StringComparison.Ordinal))
                {
                    _screen.Line($"  {at}  {e.Worker,-3}  … waits  {e.Key,-24} {e.WaitedMs:0} ms so far; tickets in etcd, oldest first: {list}");
                    if (!_reportMoment && tickets.Count > Orders.BackOffice.ReportSlots)
                    {
                        _reportMoment = true;
                        var held = tickets.Take(Orders.BackOffice.ReportSlots).ToList();
                        _screen.Line($"           ⇉ 2 settlement reports side by side: {held[0].Worker} (#{held[0].Token}) and {held[1].Worker} (#{held[1].Token}) hold the semaphore's {Orders.BackOffice.ReportSlots} tickets;");
                        _screen.Line($"             {string.Join(", ", tickets.Skip(Orders.BackOffice.ReportSlots).Select(t => $"{t.Worker} (#{t.Token})"))} wait{(tickets.Count - Orders.BackOffice.ReportSlots == 1 ? "s" : "")} for one of them (MaxCount {Orders.BackOffice.ReportSlots})");
                    }
                }
                else if (e.Key == "/catalog/SKU-1")
                {
                    _screen.Line($"  {at}  {e.Worker,-3}  … waits  {e.Key,-24} {e.WaitedMs:0} ms so far; readers and writers in etcd, oldest first: {list}");
                    int writer = tickets.FindIndex(t => t.Kind.EndsWith("/w", StringComparison.Ordinal));
                    if (!_catalogMoment && writer >= 2 && tickets.Take(writer).All(t => t.Kind.EndsWith("/r", StringComparison.Ordinal)))
                    {
                        _catalogMoment = true;
                        _screen.Line($"           ⇉ catalog reads side by side: {string.Join(" and ", tickets.Take(writer).Select(t => $"{t.Worker} (#{t.Token})"))} read {e.Key} at once;");
                        _screen.Line($"             the price update of {tickets[writer].Worker} (#{tickets[writer].Token}) waits for all of them (a writer is alone)");
                    }
                }

                break;

            case JournalEvent.Refused:
                string holder = e.CurrentToken == 0 ? "the key is gone" : $"the key with fencing token {e.CurrentToken} is {HolderName(e.Holder)}'s";
                _screen.Line($"  {at}  {e.Worker,-3}  ✋ REFUSED {Primitive(e.Key),-23} etcd refused its write ({(e.Key.Contains("/#leader/", StringComparison.Ordinal) ? "settlement counter → " : "")}{e.Detail}) with fencing token {e.Token}: {holder}; nothing written");
                break;
        }
    }

    private async Task<string?> StartLeaderPhaseAsync()
    {
        _screen.Line();
        _screen.Line($"phase 3b, leader: every worker runs the settlement job under [EtcdLeader(\"{Election}\", Ttl = {Worker.SettlementLeader.TtlSeconds})]: only the leader's runs,");
        _screen.Line($"  settling every {Worker.Workload.SettleEvery.TotalMilliseconds:0} ms (a guarded increment of a counter). Also on every worker: settlement reports under");
        _screen.Line($"  [EtcdSemaphore(\"/reports/settlement\", MaxCount = {Orders.BackOffice.ReportSlots})], catalog reads and price updates under [EtcdReadLock]/[EtcdWriteLock](\"/catalog/<sku>\")");
        foreach (WorkerProcess w in _workers.Where(w => !w.Killed))
        {
            w.Send("slow-order 0");
        }

        _observer = new EtcdLockProvider(_lockOptions);
        EtcdLeaderInfo? leader = null;
        for (int i = 0; i < 100 && leader is null; i++)
        {
            leader = await _observer.GetLeaderAsync(Election);
            if (leader is null)
            {
                await Task.Delay(100, CancellationToken.None);
            }
        }

        if (leader is null)
        {
            return $"nobody leads {Election} (GetLeaderAsync found no leader within 10 s)";
        }

        _oldLeader = leader;
        _oldLeaderName = HolderName(leader.Holder);
        _screen.Line($"  +{(DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() - _t0) / 1000.0,6:0.00}s  ♛ GetLeaderAsync: {_oldLeaderName} leads {Election} with fencing token {leader.FencingToken} (its candidate key's create revision, lease {leader.LeaseId:x})");
        CancellationToken stop = _stopObserving.Token;
        _observing = Task.Run(async () =>
        {
            try
            {
                await foreach (EtcdLeaderInfo? change in _observer.ObserveLeaderAsync(Election, stop))
                {
                    _leaderChanges.Enqueue((DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(), change));
                }
            }
            catch (OperationCanceledException)
            {
                // The demo is over.
            }
        }, CancellationToken.None);

        // Two long reports and two long reads of SKU-1 on every worker at once; one of them also updates SKU-1's price.
        bool first = true;
        foreach (WorkerProcess w in _workers.Where(w => !w.Killed))
        {
            w.Send(first ? "showcase-update" : "showcase");
            first = false;
        }

        return null;
    }

    private string? KillLeader()
    {
        EtcdLeaderInfo leader = _oldLeader!;
        Match m = PidPattern().Match(leader.Holder);
        WorkerProcess? victim = m.Success
            ? _workers.FirstOrDefault(w => !w.Killed && w.Pid == int.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture))
            : null;
        if (victim is null)
        {
            return $"the leader {leader.Holder} is none of the running workers";
        }

        victim.KillHard();
        _leaderKilledAt = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        _screen.Line($"  +{(_leaderKilledAt - _t0) / 1000.0,6:0.00}s  ✖ kill -9 {victim.Name} (pid {victim.Pid}), the leader: its candidate key stays until its lease's TTL ({Worker.SettlementLeader.TtlSeconds} s) runs out;");
        _screen.Line("           the other workers' candidate keys wait in line behind it (ObserveLeaderAsync shows the change)");
        WorkerProcess replacement = WorkerProcess.Start($"w{_workers.Count + 1}", _run, load: false, _options.Orders, Guarded, _screen, replacement: true);
        _workers.Add(replacement);
        _screen.Line($"           {replacement.Name} started to replace {victim.Name} (pid {replacement.Pid}); it campaigns too, at the end of the line");
        return null;
    }

    private void DrainLeaderChanges()
    {
        while (_leaderChanges.TryDequeue(out (long At, EtcdLeaderInfo? Leader) change))
        {
            string at = $"+{(change.At - _t0) / 1000.0,6:0.00}s";
            double since = (change.At - _leaderKilledAt) / 1000.0;
            if (change.Leader is null)
            {
                _screen.Line($"  {at}  ObserveLeaderAsync: nobody leads {Election} ({since:0.0} s after the kill)");
            }
            else if (change.Leader.FencingToken != _oldLeader!.FencingToken && _newLeader is null && _leaderKilledAt > 0)
            {
                _newLeader = change.Leader;
                _newLeaderAt = change.At;
                string bigger = change.Leader.FencingToken > _oldLeader.FencingToken ? ">" : "NOT >";
                _screen.Line($"  {at}  ♛ ObserveLeaderAsync: {HolderName(change.Leader.Holder)} leads {Election} now, fencing token {change.Leader.FencingToken} {bigger} {_oldLeader.FencingToken},");
                _screen.Line($"           {since:0.0} s after the kill (TTL {Worker.SettlementLeader.TtlSeconds} s: the dead leader's lease expired, the next candidate in line took over)");
            }
        }
    }

    private async Task KillVictimAsync()
    {
        JournalEvent hold = _crashHold!;
        WorkerProcess victim = _victim!;
        victim.KillHard();
        _killedAt = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        await victim.WaitForExitAsync(TimeSpan.FromSeconds(10));
        _screen.Line($"  +{(_killedAt - _t0) / 1000.0,6:0.00}s  ✖ kill -9 {victim.Name} (pid {victim.Pid}) while it holds {hold.Key}: fencing token {hold.Token}, lease {hold.Lease:x}, TTL {hold.TtlSeconds} s");
        Mvccpb.KeyValue? key = await _kv.GetAsync(_lockOptions.KeyPrefix + hold.Key);
        if (key is not null && key.CreateRevision == hold.Token && key.Lease == hold.Lease)
        {
            _screen.Line($"           etcd: {hold.Key} still belongs to the dead {victim.Name}'s lease; nobody can take it until the lease's TTL runs out");
        }
        else
        {
            _screen.Line($"           etcd: {hold.Key} is no longer held by {victim.Name}'s lease (it finished before the kill?)");
        }
    }

    private async Task ShowCrashedLockAsync()
    {
        JournalEvent hold = _crashHold!;
        if (_freeShown)
        {
            return;
        }

        double since = (DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() - _killedAt) / 1000.0;
        Mvccpb.KeyValue? key = await _kv.GetAsync(_lockOptions.KeyPrefix + hold.Key);
        if (key is null || key.CreateRevision != hold.Token)
        {
            _freeShown = true;
            _screen.Line($"           etcd: the lease (TTL {hold.TtlSeconds} s, no keep-alive since the kill) expired {since:0.0} s after the kill: {hold.Key} deleted, the lock is free");
            return;
        }

        long ttl = await _kv.LeaseTtlAsync(hold.Lease);
        if (ttl >= 0 && ttl != _lastLeaseTtlShown)
        {
            _lastLeaseTtlShown = ttl;
            _screen.Line($"           etcd: {hold.Key} still held by the dead {hold.Worker}'s lease, which expires in {(ttl == 0 ? "less than 1" : ttl.ToString(System.Globalization.CultureInfo.InvariantCulture))} s (no keep-alive any more)");
        }
    }

    private void FreezePausedWorker()
    {
        PausePoint point = _pausePoint!;
        WorkerProcess paused = _paused!;
        paused.Stop();
        _stoppedAt = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        _screen.Line($"  +{(_stoppedAt - _t0) / 1000.0,6:0.00}s  ⏸ kill -STOP {paused.Name} (pid {paused.Pid}) at its write: it holds {point.Key} with fencing token {point.Token} (lease {point.Lease:x}, TTL {point.TtlSeconds} s)");
        _screen.Line($"           and is about to write {point.Write}; nothing runs in it now, not even its lease's keep-alive");

        // The worker that takes the order over answers slowly, so that it still holds the order when the stopped one writes.
        foreach (WorkerProcess w in _workers.Where(w => !w.Killed && w != paused))
        {
            w.Send($"slow-order {point.OrderId.ToString(System.Globalization.CultureInfo.InvariantCulture)}");
        }
    }

    private async Task ShowPausedLockAsync()
    {
        PausePoint point = _pausePoint!;
        if (_pauseFreeShown || _pauseTakeover is not null)
        {
            return;
        }

        double since = (DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() - _stoppedAt) / 1000.0;
        Mvccpb.KeyValue? key = await _kv.GetAsync(_lockOptions.KeyPrefix + point.Key);
        if (key is null || key.CreateRevision != point.Token)
        {
            _pauseFreeShown = true;
            _screen.Line($"           etcd: the stopped {_paused!.Name}'s lease (TTL {point.TtlSeconds} s) expired {since:0.0} s after the SIGSTOP: {point.Key} deleted, the lock is free");
            return;
        }

        long ttl = await _kv.LeaseTtlAsync(point.Lease);
        if (ttl >= 0 && ttl != _pauseLastTtlShown)
        {
            _pauseLastTtlShown = ttl;
            _screen.Line($"           etcd: {point.Key} still held by the stopped {_paused!.Name}'s lease, which expires in {(ttl == 0 ? "less than 1" : ttl.ToString(System.Globalization.CultureInfo.InvariantCulture))} s (no keep-alive while it is stopped)");
        }
    }

    private async Task ResumePausedWorkerAsync()
    {
        PausePoint point = _pausePoint!;
        WorkerProcess paused = _paused!;
        JournalEvent taker = _pauseTakeover!;
        Mvccpb.KeyValue? key = await _kv.GetAsync(_lockOptions.KeyPrefix + point.Key);
        _screen.Line(key is not null && key.CreateRevision == taker.Token
            ? $"           etcd: {point.Key} belongs to {taker.Worker}'s lease now (create revision {key.CreateRevision}); the stopped {paused.Name} still takes itself for the holder with {point.Token}"
            : $"           etcd: {point.Key} has {(key is null ? "no holder" : $"create revision {key.CreateRevision}")} now; the stopped {paused.Name} still takes itself for the holder with {point.Token}");

        // SIGCONT first, then the go-ahead: the write can only happen after the resume.
        paused.Resume();
        paused.Send("resume-write");
        long resumedAt = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        _screen.Line($"  +{(resumedAt - _t0) / 1000.0,6:0.00}s  ⏵ kill -CONT {paused.Name} after {(resumedAt - _stoppedAt) / 1000.0:0.0} s stopped: it goes on where it stopped, with its write of {point.Write} (fencing token {point.Token})");
    }

    private void ShowPauseOutcome()
    {
        PausePoint point = _pausePoint!;
        JournalEvent taker = _pauseTakeover!;
        string outcome = _staleWrite!.Kind == JournalEvent.Refused
            ? "refused by etcd"
            : Guarded ? "APPLIED though guarded" : "applied (plain put, --unguarded)";
        _pauseLine = $"pause: {point.Key} write of paused {_paused!.Name} (fencing token {point.Token}) {outcome}; new holder {taker.Worker} (fencing token {taker.Token})";
        _screen.Line($"           {_pauseLine}");
    }

    private bool PauseOk =>
        Guarded && _staleWrite is { Kind: JournalEvent.Refused } && _pauseTakeover is not null && _pausePoint is not null
        && _pauseTakeover.Token > _pausePoint.Token && _takeoverWrite is not null;

    private string Progress(TimeSpan elapsed, double rate)
    {
        double fraction = Math.Clamp(elapsed.TotalSeconds / _options.DurationSeconds, 0, 1);
        const int width = 20;
        int filled = (int)Math.Round(fraction * width);
        string bar = new string('█', filled) + new string('░', width - filled);
        double contended = _completed == 0 ? 0 : 100.0 * _contended / _completed;
        string holding = string.Join(", ", _holders.Values.Where(h => h.Key.StartsWith("/orders/", StringComparison.Ordinal))
            .OrderBy(h => h.Worker, StringComparer.Ordinal).Take(3).Select(h => $"{h.Worker} {h.Key} #{h.Token}"));
        return $"  [{bar}] {fraction * 100,3:0}%  {elapsed.TotalSeconds,5:0.0}/{_options.DurationSeconds} s  ops {_completed} ({rate:0}/s)  waited≥10ms {contended:0}%  skips {_skips}  now: {(holding.Length == 0 ? "-" : holding)}";
    }

    private string HolderName(string holderValue)
    {
        Match m = PidPattern().Match(holderValue);
        if (m.Success && _pidNames.TryGetValue(int.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture), out string? name))
        {
            return _workers.Any(w => w.Name == name && w.Killed) ? $"{name} (killed)" : name;
        }

        return holderValue.Length == 0 ? "nobody (just released)" : holderValue;
    }

    private async Task<int> VerifyAsync(string? failure)
    {
        (List<Mvccpb.KeyValue> journal, _) = await _kv.RangeAsync(_keys.JournalPrefix);
        List<JournalEvent> events = journal.Select(kv => JournalEvent.Parse(kv.Value.ToStringUtf8(), kv.ModRevision)).OrderBy(e => e.Revision).ToList();

        (List<Mvccpb.KeyValue> orderKvs, _) = await _kv.RangeAsync(_keys.OrdersPrefix);
        var payments = new Dictionary<int, int>();
        foreach (Mvccpb.KeyValue kv in orderKvs)
        {
            string key = kv.Key.ToStringUtf8();
            string id = key[_keys.OrdersPrefix.Length..].Split('/')[0];
            payments[int.Parse(id, System.Globalization.CultureInfo.InvariantCulture)] = OrderStore.ParseInt(kv.Value.ToStringUtf8());
        }

        (List<Mvccpb.KeyValue> customerKvs, _) = await _kv.RangeAsync(_keys.CustomersPrefix);
        var accounts = customerKvs.ToDictionary(
            kv => kv.Key.ToStringUtf8()[_keys.CustomersPrefix.Length..].Split('/')[0],
            kv => CustomerAccount.Parse(kv.Value.ToStringUtf8()));
        int settlementRuns = OrderStore.ParseInt((await _kv.GetAsync(_keys.SettlementRuns))?.Value.ToStringUtf8());

        (List<Mvccpb.KeyValue> reportKvs, _) = await _kv.RangeAsync(_keys.ReportsPrefix);
        List<long> reports = reportKvs.Select(kv => long.Parse(kv.Key.ToStringUtf8()[_keys.ReportsPrefix.Length..], System.Globalization.CultureInfo.InvariantCulture)).ToList();
        (List<Mvccpb.KeyValue> priceKvs, _) = await _kv.RangeAsync(_keys.CatalogPrefix);
        var prices = priceKvs.ToDictionary(
            kv => kv.Key.ToStringUtf8()[_keys.CatalogPrefix.Length..].Split('/')[0],
            kv => CatalogPrice.Parse(kv.Value.ToStringUtf8()));
        (int Count, long Token) counter = OrderStore.ParseCounter((await _kv.GetAsync(_keys.SettlementCounter))?.Value.ToStringUtf8());

        VerificationReport r = Verifier.Verify(events, payments, accounts, settlementRuns, reports, prices, counter);
        _screen.Line();
        _screen.Line($"verification, from etcd: {events.Count} journal entries and the counters of run {_run}");
        _screen.Line($"  payments captured  {r.Payments,6}  on {r.Orders} orders         /orders/<orderId>: each order's payment counter equals its completed holds");
        _screen.Line($"  customer credits   {r.Credits,6}  for {r.Customers} customers     /customers/<order.CustomerId>: each account's credits equal its completed holds");
        _screen.Line($"  settlement runs    {r.SettlementRuns,6}  ({r.SettlementSkips} turns skipped: another node was running it)   /jobs/settlement");
        _screen.Line($"  settlement reports {r.ReportHolds,6}  at most {r.MaxReportsAtOnce} at once (by revision, enter to exit)   /reports/settlement: semaphore, MaxCount {BackOffice.ReportSlots}");
        _screen.Line($"  catalog            {r.CatalogReads + r.CatalogUpdates,6}  {r.CatalogReads} reads, {r.CatalogUpdates} price updates   /catalog/<sku>: no update beside another hold; prices count every update");
        _screen.Line($"  settlements        {r.SettleIncrements,6}  by {r.SettleLeaders} leaders{(r.RefusedSettles > 0 ? $" ({r.RefusedSettles} refused: written after the term ended)" : "")}   {Election}: counter incremented once per settlement, leader fencing tokens never back");
        _screen.Line($"  holds              {r.Holds,6}  on {r.Keys} keys; fencing tokens {(r.TokenRegressions == 0 ? "grew with every holder of each key" : $"went backwards {r.TokenRegressions} times")}");
        foreach (string cut in r.CutShort)
        {
            _screen.Line($"  cut short by the kill: {cut} (no write, so nothing to lose)");
        }

        foreach (string refused in r.Refused)
        {
            _screen.Line($"  refused by etcd (guarded write): {refused}; nothing written, so nothing lost");
        }

        string perWorker = string.Join(", ", _workers.Select(w =>
            $"{w.Name} {events.Count(e => e.Kind == JournalEvent.Exit && e.Worker == w.Name)}{(w.Killed ? " (killed)" : w.Replacement ? " (replacement)" : "")}"));
        _screen.Line($"  operations by worker: {perWorker}");
        foreach (string problem in r.Problems)
        {
            _screen.Line($"  problem: {problem}");
        }

        bool takeoverOk = _takeover is not null && _crashHold is not null && _takeover.Token > _crashHold.Token;
        _screen.Line(_takeoverLine ?? "crash takeover: none observed");
        _screen.Line(_pauseLine ?? "pause: no outcome observed");
        _screen.Line(_leaderLine ?? "leader takeover: none observed");
        _screen.Line(r.BackOfficeLine);
        _screen.Line($"{r.Operations} operations, {r.OverlappingHolds} overlapping holds, {r.LostUpdates} lost updates");
        if (!Guarded)
        {
            if (_pauseLine is not null && _staleWrite is { Kind: JournalEvent.Exit } && r.LostUpdates > 0)
            {
                _screen.Line($"FAIL, as expected with --unguarded: {_paused!.Name} was stopped past its lease right after its cancellation check, and its plain write, made after SIGCONT");
                _screen.Line($"  with the stale fencing token {_pausePoint!.Token} while {_pauseTakeover!.Worker} held {_pausePoint.Key} with {_pauseTakeover.Token}, cost {r.LostUpdates} lost update(s). The lock alone cannot");
                _screen.Line("  stop a late writer; the guarded write (the default, without --unguarded) makes etcd refuse it. Exit status 1: data was lost.");
            }
            else
            {
                _screen.Line($"FAIL: --unguarded did not show the lost update it should ({failure ?? "the pause phase's late write did not lose an update this time"}); exit status 1");
            }

            return 1;
        }

        bool leaderOk = _newLeader is not null && _oldLeader is not null && _newLeader.FencingToken > _oldLeader.FencingToken && _newLeaderSettle is not null;
        if (r.Passed && takeoverOk && PauseOk && leaderOk && failure is null)
        {
            _screen.Line("PASS: every hold was exclusive, no update was lost, the killed worker's lock was taken over with a larger fencing token,");
            _screen.Line("  and etcd refused the stopped worker's late write (its fencing token was no longer the lock key's);");
            _screen.Line($"  at most {BackOffice.ReportSlots} reports at once, no price update beside another hold, and the killed leader's job went on under a new leader");
            return 0;
        }

        _screen.Line($"FAIL: {failure ?? (!takeoverOk ? "no takeover with a larger fencing token after the kill" : !PauseOk ? "etcd did not refuse the stopped worker's late write" : !leaderOk ? "no new leader with a larger fencing token settled after the leader's kill" : "the checks above found problems")}");
        return 1;
    }

    [GeneratedRegex(@"pid=(\d+)")]
    private static partial Regex PidPattern();

    /// <summary>Where a worker stopped before its write: its <c>@pause-point</c> line (tab-separated).</summary>
    /// <param name="Key">The lock key without the provider's prefix, <c>/orders/&lt;id&gt;</c>.</param>
    /// <param name="Token">The hold's fencing token.</param>
    /// <param name="Lease">The hold's lease.</param>
    /// <param name="TtlSeconds">The lease's TTL.</param>
    /// <param name="Write">What it is about to write, for example <c>payments 4→5</c>.</param>
    private sealed record PausePoint(string Key, long Token, long Lease, long TtlSeconds, string Write)
    {
        public int OrderId => int.Parse(Key["/orders/".Length..], System.Globalization.CultureInfo.InvariantCulture);

        public static bool TryParse(string line, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out PausePoint? point)
        {
            string[] f = line.Split('\t');
            var inv = System.Globalization.CultureInfo.InvariantCulture;
            if (f.Length == 6 && f[0] == "@pause-point" && f[1].StartsWith("/orders/", StringComparison.Ordinal)
                && long.TryParse(f[2], System.Globalization.NumberStyles.Integer, inv, out long token)
                && long.TryParse(f[3], System.Globalization.NumberStyles.Integer, inv, out long lease)
                && long.TryParse(f[4], System.Globalization.NumberStyles.Integer, inv, out long ttl))
            {
                point = new PausePoint(f[1], token, lease, ttl, f[5]);
                return true;
            }

            point = null;
            return false;
        }
    }
}
