namespace AttributeLock;

/// <summary>Acquires distributed locks held as keys in etcd.</summary>
public interface IEtcdLockProvider
{
    /// <summary>
    /// Acquires the lock on <paramref name="key"/>, waiting while another holder has it.
    /// </summary>
    /// <param name="key">The lock's key (without the provider's key prefix).</param>
    /// <param name="options">Time to live and wait timeout; <c>null</c> uses the provider's defaults and waits without limit.</param>
    /// <param name="cancellationToken">Ends the wait; the lease granted for it is revoked.</param>
    /// <returns>The handle of the hold; dispose it to release the lock.</returns>
    /// <exception cref="EtcdLockTimeoutException">The wait timeout passed while another holder had the lock.</exception>
    /// <exception cref="EtcdLockUnavailableException">etcd could not be reached or refused the request.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    ValueTask<EtcdLockHandle> AcquireAsync(string key, EtcdLockOptions? options = null, CancellationToken cancellationToken = default);

    /// <summary>
    /// Tries to acquire the lock on <paramref name="key"/>: one attempt unless
    /// <see cref="EtcdLockOptions.WaitTimeout"/> asks for a longer wait.
    /// </summary>
    /// <param name="key">The lock's key (without the provider's key prefix).</param>
    /// <param name="options">Time to live and wait timeout; <c>null</c> uses the provider's defaults and makes one attempt.</param>
    /// <param name="cancellationToken">Ends the attempt.</param>
    /// <returns>The handle of the hold, or <c>null</c> when another holder has the lock.</returns>
    /// <exception cref="EtcdLockUnavailableException">etcd could not be reached or refused the request.</exception>
    ValueTask<EtcdLockHandle?> TryAcquireAsync(string key, EtcdLockOptions? options = null, CancellationToken cancellationToken = default);

    /// <summary>
    /// Acquires one of the <paramref name="maxCount"/> tickets of the semaphore <paramref name="key"/>, waiting while
    /// <paramref name="maxCount"/> holders (of any process) have one. Tickets are handed out first come, first served
    /// across processes (by the create revision of each ticket's key).
    /// </summary>
    /// <param name="key">The semaphore's key (without the provider's key prefix); its tickets are keys under it.</param>
    /// <param name="maxCount">How many holders at most, at least 1. Every caller of one semaphore must pass the same
    /// value: an acquire that finds a ticket asked with another value fails with <see cref="InvalidOperationException"/>
    /// naming both, rather than let the larger value win.</param>
    /// <param name="options">Time to live and wait timeout (<see cref="EtcdLockOptions.HoldAtLeast"/> is for locks only).</param>
    /// <param name="cancellationToken">Ends the wait; the ticket and its lease are revoked.</param>
    /// <returns>The handle of the ticket; dispose it to give the ticket back. Its <see cref="EtcdLockHandle.FencingToken"/>
    /// is the ticket's create revision, and its guarded writes apply only while the ticket is still held.</returns>
    /// <exception cref="EtcdLockTimeoutException">The wait timeout passed while all tickets were taken.</exception>
    /// <exception cref="EtcdLockUnavailableException">etcd could not be reached or refused the request.</exception>
    /// <exception cref="InvalidOperationException">A holder of the semaphore asked for another <paramref name="maxCount"/>.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    ValueTask<EtcdLockHandle> AcquireSemaphoreAsync(string key, int maxCount, EtcdLockOptions? options = null, CancellationToken cancellationToken = default);

    /// <summary>
    /// Tries to acquire a ticket of the semaphore <paramref name="key"/>: one attempt unless
    /// <see cref="EtcdLockOptions.WaitTimeout"/> asks for a longer wait (see <see cref="AcquireSemaphoreAsync"/>).
    /// </summary>
    /// <param name="key">The semaphore's key (without the provider's key prefix).</param>
    /// <param name="maxCount">How many holders at most, at least 1; the same for every caller.</param>
    /// <param name="options">Time to live and wait timeout; <c>null</c> makes one attempt.</param>
    /// <param name="cancellationToken">Ends the attempt.</param>
    /// <returns>The handle of the ticket, or <c>null</c> when all tickets are taken.</returns>
    /// <exception cref="EtcdLockUnavailableException">etcd could not be reached or refused the request.</exception>
    /// <exception cref="InvalidOperationException">A holder of the semaphore asked for another <paramref name="maxCount"/>.</exception>
    ValueTask<EtcdLockHandle?> TryAcquireSemaphoreAsync(string key, int maxCount, EtcdLockOptions? options = null, CancellationToken cancellationToken = default);

    /// <summary>
    /// Acquires the read side of the reader-writer lock <paramref name="key"/>: held beside other readers, never beside
    /// a writer. First come, first served across processes: a reader that comes after a waiting writer waits for it, so a
    /// steady stream of readers cannot starve a writer.
    /// </summary>
    /// <param name="key">The lock's key (without the provider's key prefix); readers and writers are keys under it.</param>
    /// <param name="options">Time to live and wait timeout (<see cref="EtcdLockOptions.HoldAtLeast"/> is for locks only).</param>
    /// <param name="cancellationToken">Ends the wait; the reader's key and lease are revoked.</param>
    /// <returns>The handle of the read hold; dispose it to release it.</returns>
    /// <exception cref="EtcdLockTimeoutException">The wait timeout passed while a writer had or waited for the lock.</exception>
    /// <exception cref="EtcdLockUnavailableException">etcd could not be reached or refused the request.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    ValueTask<EtcdLockHandle> AcquireReadLockAsync(string key, EtcdLockOptions? options = null, CancellationToken cancellationToken = default);

    /// <summary>Tries to acquire the read side of the reader-writer lock <paramref name="key"/> (see <see cref="AcquireReadLockAsync"/>).</summary>
    /// <param name="key">The lock's key (without the provider's key prefix).</param>
    /// <param name="options">Time to live and wait timeout; <c>null</c> makes one attempt.</param>
    /// <param name="cancellationToken">Ends the attempt.</param>
    /// <returns>The handle of the read hold, or <c>null</c> when a writer has or waits for the lock.</returns>
    /// <exception cref="EtcdLockUnavailableException">etcd could not be reached or refused the request.</exception>
    ValueTask<EtcdLockHandle?> TryAcquireReadLockAsync(string key, EtcdLockOptions? options = null, CancellationToken cancellationToken = default);

    /// <summary>
    /// Acquires the write side of the reader-writer lock <paramref name="key"/>: held alone, beside no reader and no
    /// other writer; it waits for the readers and writers that came before it, and readers that come after it wait.
    /// </summary>
    /// <param name="key">The lock's key (without the provider's key prefix).</param>
    /// <param name="options">Time to live and wait timeout (<see cref="EtcdLockOptions.HoldAtLeast"/> is for locks only).</param>
    /// <param name="cancellationToken">Ends the wait; the writer's key and lease are revoked.</param>
    /// <returns>The handle of the write hold; dispose it to release it.</returns>
    /// <exception cref="EtcdLockTimeoutException">The wait timeout passed while others had or waited for the lock.</exception>
    /// <exception cref="EtcdLockUnavailableException">etcd could not be reached or refused the request.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    ValueTask<EtcdLockHandle> AcquireWriteLockAsync(string key, EtcdLockOptions? options = null, CancellationToken cancellationToken = default);

    /// <summary>Tries to acquire the write side of the reader-writer lock <paramref name="key"/> (see <see cref="AcquireWriteLockAsync"/>).</summary>
    /// <param name="key">The lock's key (without the provider's key prefix).</param>
    /// <param name="options">Time to live and wait timeout; <c>null</c> makes one attempt.</param>
    /// <param name="cancellationToken">Ends the attempt.</param>
    /// <returns>The handle of the write hold, or <c>null</c> when others have or wait for the lock.</returns>
    /// <exception cref="EtcdLockUnavailableException">etcd could not be reached or refused the request.</exception>
    ValueTask<EtcdLockHandle?> TryAcquireWriteLockAsync(string key, EtcdLockOptions? options = null, CancellationToken cancellationToken = default);

    /// <summary>
    /// Campaigns in the election <paramref name="election"/> and returns once this caller leads: candidates lead in the
    /// order they campaigned (Go's <c>concurrency.Election</c>), each waiting on the one before it only. The handle's
    /// <see cref="EtcdLockHandle.FencingToken"/> is the leader key's create revision, its
    /// <see cref="EtcdLockHandle.LostToken"/> fires when leadership is lost; dispose it to resign (the next candidate
    /// leads at once, without waiting for the TTL). <see cref="EtcdLeadership.RunAsync"/> and
    /// <see cref="EtcdLeaderAttribute"/> run a job while leading, campaigning again after a loss.
    /// </summary>
    /// <param name="election">The election's key (without the provider's key prefix); candidates are keys under it.</param>
    /// <param name="options">Time to live and wait timeout (<see cref="EtcdLockOptions.HoldAtLeast"/> is for locks only).</param>
    /// <param name="cancellationToken">Ends the campaign; the candidate's key and lease are revoked.</param>
    /// <returns>The leadership; dispose it to resign.</returns>
    /// <exception cref="EtcdLockTimeoutException">The wait timeout passed while another candidate led.</exception>
    /// <exception cref="EtcdLockUnavailableException">etcd could not be reached or refused the request.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    ValueTask<EtcdLockHandle> CampaignAsync(string election, EtcdLockOptions? options = null, CancellationToken cancellationToken = default);

    /// <summary>Reads who leads the election <paramref name="election"/> now, from etcd.</summary>
    /// <param name="election">The election's key (without the provider's key prefix).</param>
    /// <param name="cancellationToken">Ends the read.</param>
    /// <returns>The leader, or <c>null</c> when no candidate leads.</returns>
    /// <exception cref="EtcdLockUnavailableException">etcd could not be reached or refused the request.</exception>
    ValueTask<EtcdLeaderInfo?> GetLeaderAsync(string election, CancellationToken cancellationToken = default);

    /// <summary>
    /// Who leads the election <paramref name="election"/>: the leader now, then each change (a new leader, or
    /// <c>null</c> while nobody leads), read again from etcd after every event of a watch on the election (a watch
    /// alone is never trusted). Consecutive values always differ. The stream ends when
    /// <paramref name="cancellationToken"/> is cancelled or the provider is disposed; while etcd cannot be reached it
    /// retries and yields nothing.
    /// </summary>
    /// <param name="election">The election's key (without the provider's key prefix).</param>
    /// <param name="cancellationToken">Ends the stream.</param>
    /// <returns>The leaders, as they change.</returns>
    IAsyncEnumerable<EtcdLeaderInfo?> ObserveLeaderAsync(string election, CancellationToken cancellationToken = default);
}
