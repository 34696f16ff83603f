using Google.Protobuf;

namespace AttributeLock.Engine.Lock;

/// <summary>What one acquire asks for: the key, its lease TTL and how long it may wait.</summary>
internal readonly record struct AcquireRequest(string FullKey, ByteString KeyBytes, int TtlSeconds, TimeSpan Wait, bool ThrowWhenBusy)
{
    public bool SingleAttempt => Wait == TimeSpan.Zero;

    /// <summary>The least time the key stays taken from the acquire on (<see cref="EtcdLockOptions.HoldAtLeast"/>); applied at release.</summary>
    public TimeSpan HoldAtLeast { get; init; }
}
