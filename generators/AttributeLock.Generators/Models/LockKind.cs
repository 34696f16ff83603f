namespace AttributeLock.Generators.Models;

/// <summary>Which coordination attribute marks a method; decides the runtime entry point the wrapper calls.</summary>
internal enum LockKind
{
    /// <summary><c>[EtcdLock]</c>: <c>EtcdLockInvocation.EnterAsync</c>.</summary>
    Lock = 0,

    /// <summary><c>[EtcdSemaphore]</c>: <c>EtcdLockInvocation.EnterSemaphoreAsync</c>.</summary>
    Semaphore = 1,

    /// <summary><c>[EtcdReadLock]</c>: <c>EtcdLockInvocation.EnterReadLockAsync</c>.</summary>
    ReadLock = 2,

    /// <summary><c>[EtcdWriteLock]</c>: <c>EtcdLockInvocation.EnterWriteLockAsync</c>.</summary>
    WriteLock = 3,

    /// <summary><c>[EtcdLeader]</c>: <c>EtcdLockInvocation.LeadAsync</c>.</summary>
    Leader = 4,
}
