namespace AttributeLock.Engine;

/// <summary>What a generated wrapper's call holds: which calls on the same key may nest in it (see <see cref="Nesting"/>).</summary>
internal enum ScopeKind : byte
{
    /// <summary>An exclusive lock (<see cref="EtcdLockAttribute"/>): a lock call on the same key nests.</summary>
    Lock,

    /// <summary>A semaphore ticket: a semaphore call on the same key nests (it shares the ticket).</summary>
    Semaphore,

    /// <summary>A read hold: a read call on the same key nests; a write call fails (no upgrade).</summary>
    Read,

    /// <summary>A write hold: a read or write call on the same key nests.</summary>
    Write,

    /// <summary>A leadership (<see cref="EtcdLeaderAttribute"/>): nothing nests.</summary>
    Leader,
}
