using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace AttributeLock;

/// <summary>The leader of an election, as read from etcd.</summary>
/// <param name="Key">The leader's key in etcd (the election's key, its prefix and the candidate's part).</param>
/// <param name="Holder">Who leads: the value of the leader's key (host name, process id and provider id).</param>
/// <param name="FencingToken">The leader key's create revision: strictly greater for every later leader.</param>
/// <param name="LeaseId">The lease the leader's key is attached to.</param>
public sealed record EtcdLeaderInfo(string Key, string Holder, long FencingToken, long LeaseId);

/// <summary>What this process is in an election it runs (<see cref="EtcdLeadership.RunAsync"/>).</summary>
public enum EtcdElectionRole
{
    /// <summary>Campaigning, or waiting to campaign again: another instance leads, or none yet.</summary>
    Follower = 0,

    /// <summary>This process leads: the job runs here.</summary>
    Leader = 1,
}

/// <summary>
/// Runs a job only while this instance leads an election (what <see cref="EtcdLeaderAttribute"/> generates), and tells
/// health checks which elections this process leads.
/// </summary>
public static class EtcdLeadership
{
    private static readonly ConditionalWeakTable<IEtcdLockProvider, ConcurrentDictionary<string, RoleCount>> s_roles = new();

    /// <summary>The least and the most time between a lost term (or a failed campaign) and the next campaign.</summary>
    private static readonly TimeSpan s_minBackoff = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan s_maxBackoff = TimeSpan.FromSeconds(30);

    private sealed class RoleCount
    {
        public int Leading;
        public int Running;
    }

    /// <summary>
    /// Campaigns in <paramref name="election"/> and runs <paramref name="whileLeading"/> each time this instance leads,
    /// until <paramref name="stoppingToken"/> is cancelled or the body returns while leading.
    /// </summary>
    /// <param name="provider">The provider that campaigns.</param>
    /// <param name="election">The election's key (without the provider's key prefix).</param>
    /// <param name="options">The leader key's TTL (<see cref="EtcdLockOptions.TtlSeconds"/>); the wait is unlimited.</param>
    /// <param name="whileLeading">
    /// The job. Its token fires when leadership is lost (lease expired, key deleted, provider disposed) or
    /// <paramref name="stoppingToken"/> is cancelled. Inside it <see cref="EtcdLockContext.Current"/> is the leadership
    /// (fencing token, guarded writes).
    /// </param>
    /// <param name="stoppingToken">Stops the election: the leader resigns at once (its key is deleted), a follower stops
    /// campaigning; the returned task then completes.</param>
    /// <param name="logger">Where lost terms and failed bodies are logged; <c>null</c> logs nothing.</param>
    /// <returns>
    /// A task that completes when <paramref name="stoppingToken"/> was cancelled, when the body returned while leading
    /// (the instance resigned), or when the provider was disposed.
    /// </returns>
    /// <remarks>
    /// What each end of a term does: the body returns while leading → resign, and the election ends for this instance
    /// (a <c>BackgroundService</c> whose job returns is done). The body throws, or leadership is lost → resign (or
    /// find the key gone), log, wait a backoff (1 s, doubling after each term that failed within a minute of starting,
    /// at most 30 s), campaign again. etcd cannot be reached → the campaign is retried after the backoff.
    /// </remarks>
    public static async Task RunAsync(IEtcdLockProvider provider, string election, EtcdLockOptions? options, Func<CancellationToken, Task> whileLeading, CancellationToken stoppingToken, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(provider);
        ArgumentNullException.ThrowIfNull(election);
        ArgumentNullException.ThrowIfNull(whileLeading);
        logger ??= NullLogger.Instance;
        var campaign = new EtcdLockOptions { TtlSeconds = options?.TtlSeconds, WaitTimeout = Timeout.InfiniteTimeSpan };
        RoleCount roles = s_roles.GetOrCreateValue(provider).GetOrAdd(election, static _ => new RoleCount());
        Interlocked.Increment(ref roles.Running);
        TimeSpan backoff = s_minBackoff;
        try
        {
            while (!stoppingToken.IsCancellationRequested)
            {
                EtcdLockHandle leadership;
                try
                {
                    leadership = await provider.CampaignAsync(election, campaign, stoppingToken).ConfigureAwait(false);
                }
                catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
                {
                    return;
                }
                catch (ObjectDisposedException)
                {
                    return; // the provider was disposed: nothing can lead through it any more
                }
                catch (EtcdLockUnavailableException ex)
                {
                    logger.LogWarning(ex, "Campaign in election {Election} failed; campaigning again in {Backoff} s.", election, backoff.TotalSeconds);
                    await DelayAsync(backoff, stoppingToken).ConfigureAwait(false);
                    backoff = Next(backoff);
                    continue;
                }

                long started = Environment.TickCount64;
                bool bodyReturned = false;
                Interlocked.Increment(ref roles.Leading);
                try
                {
                    bodyReturned = await RunTermAsync(provider, election, leadership, whileLeading, stoppingToken, logger).ConfigureAwait(false);
                }
                finally
                {
                    Interlocked.Decrement(ref roles.Leading);
                    await leadership.DisposeAsync().ConfigureAwait(false); // resigns: the next candidate leads at once
                }

                if (bodyReturned || stoppingToken.IsCancellationRequested)
                {
                    return;
                }

                backoff = Environment.TickCount64 - started > 60_000 ? s_minBackoff : backoff;
                await DelayAsync(backoff, stoppingToken).ConfigureAwait(false);
                backoff = Next(backoff);
            }
        }
        finally
        {
            Interlocked.Decrement(ref roles.Running);
        }
    }

    /// <summary>One term: the body under the leadership's scope. Returns true when the body returned while leading.</summary>
    private static async Task<bool> RunTermAsync(IEtcdLockProvider provider, string election, EtcdLockHandle leadership, Func<CancellationToken, Task> whileLeading, CancellationToken stoppingToken, ILogger logger)
    {
        EtcdLockScope frame = EtcdLockScope.Push(provider, election, Engine.ScopeKind.Leader);
        try
        {
            frame.Enter(leadership, stoppingToken);
            await whileLeading(frame.CancellationToken).ConfigureAwait(false);
            if (leadership.IsLost)
            {
                logger.LogWarning("Leadership of election {Election} was lost (fencing token {FencingToken}): {Reason}; campaigning again.", election, leadership.FencingToken, leadership.Hold.LostReason);
                return false;
            }

            return !stoppingToken.IsCancellationRequested;
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested || leadership.IsLost)
        {
            if (!stoppingToken.IsCancellationRequested)
            {
                logger.LogWarning("Leadership of election {Election} was lost (fencing token {FencingToken}): {Reason}; campaigning again.", election, leadership.FencingToken, leadership.Hold.LostReason);
            }

            return false;
        }
        catch (Exception ex)
        {
            logger.LogError(ex, "The job of election {Election} failed while leading (fencing token {FencingToken}); resigning and campaigning again.", election, leadership.FencingToken);
            return false;
        }
        finally
        {
            await frame.DisposeAsync().ConfigureAwait(false); // resigns (the handle's release); RunAsync's second dispose does nothing
        }
    }

    private static TimeSpan Next(TimeSpan backoff) => backoff * 2 > s_maxBackoff ? s_maxBackoff : backoff * 2;

    private static async Task DelayAsync(TimeSpan delay, CancellationToken token) =>
        await Task.Delay(delay, token).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);

    /// <summary>
    /// The elections that <see cref="RunAsync"/> runs through <paramref name="provider"/> in this process, each with
    /// this process's role (<see cref="EtcdElectionRole.Leader"/> while one of its runs leads). Read by the health check.
    /// </summary>
    /// <param name="provider">The provider the elections run through.</param>
    /// <returns>Election key (without the provider's prefix) → role; empty when none runs.</returns>
    public static IReadOnlyDictionary<string, EtcdElectionRole> Roles(IEtcdLockProvider provider)
    {
        ArgumentNullException.ThrowIfNull(provider);
        var result = new SortedDictionary<string, EtcdElectionRole>(StringComparer.Ordinal);
        if (s_roles.TryGetValue(provider, out ConcurrentDictionary<string, RoleCount>? elections))
        {
            foreach ((string election, RoleCount roles) in elections)
            {
                if (Volatile.Read(ref roles.Running) > 0)
                {
                    result[election] = Volatile.Read(ref roles.Leading) > 0 ? EtcdElectionRole.Leader : EtcdElectionRole.Follower;
                }
            }
        }

        return result;
    }
}
