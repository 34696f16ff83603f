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
}
