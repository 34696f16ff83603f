using AttributeLock.Engine.Session;

namespace AttributeLock.Engine.Lock;

/// <summary>The session's side of every lock hold (see <see cref="ILockHoldHost"/>).</summary>
internal sealed class LockHoldHost : ILockHoldHost
{
    private readonly KeyWatcher _watcher;
    private readonly LocalGates _gates;
    private readonly LockRelease _release;

    public LockHoldHost(IEtcdCalls calls, KeyWatcher watcher, LocalGates gates, LockRelease release)
    {
        Calls = calls;
        _watcher = watcher;
        _gates = gates;
        _release = release;
        LocalHolder = calls.HolderId + " (a caller in this process)"; // built once, not per acquire
    }

    public IEtcdCalls Calls { get; }

    public string LocalHolder { get; }

    public bool IsLockKeyHere(string fullKey) => _gates.HolderOf(fullKey) is not null;

    public void OnRenewalDue(LockHold hold)
    {
        if (hold.IsLive)
        {
            _watcher.OnRenewalDue(hold);
        }
    }

    public void OnHoldLost(LockHold hold, string reason)
    {
        Log.Lost(Calls.Logger, hold.Key, hold.LeaseId, hold.FencingToken, reason);
        Calls.Metrics.LostHolds.Add(1);
    }

    public void OnLostCallbackFailed(LockHold hold, string what, Exception exception) => Log.LostCallbackFailed(Calls.Logger, exception, hold.Key, what);

    public void OnAbandoned(LockHold hold) => _release.OnAbandoned(hold);

    public ValueTask ReleaseAsync(LockHold hold) => _release.ReleaseAsync(hold);
}
