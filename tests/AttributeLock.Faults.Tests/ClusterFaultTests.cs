using System.Diagnostics;
using AttributeLock.EtcdFixture;
using dotnet_etcd;
using Etcdserverpb;
using Xunit.Abstractions;

namespace AttributeLock.Faults.Tests;

public sealed class ClusterFaultTests(ITestOutputHelper output)
{
    [Fact]
    public async Task Leader_killed_while_locks_are_held_and_awaited_keeps_exclusion_and_the_workload_goes_on()
    {
        IReadOnlyList<EtcdServer> cluster = await EtcdServer.StartClusterAsync(3);
        try
        {
            string endpoints = string.Join(",", cluster.Select(s => s.Endpoint));
            var providers = Enumerable.Range(0, 3)
                .Select(_ => new EtcdLockProvider(new EtcdLockProviderOptions { Endpoints = { endpoints }, ConnectTimeout = TimeSpan.FromSeconds(5) }))
                .ToList();
            var log = new HoldLog();
            int failures = 0;
            long killedAt = 0;
            int afterKill = 0;
            using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(12));

            async Task Loop(EtcdLockProvider provider, int seed)
            {
                var random = new Random(seed);
                while (!stop.IsCancellationRequested)
                {
                    string key = $"/cluster/{random.Next(3)}";
                    try
                    {
                        await using EtcdLockHandle h = await provider.AcquireAsync(key, new EtcdLockOptions { TtlSeconds = 3, WaitTimeout = TimeSpan.FromSeconds(8) });
                        await log.RecordAsync(h, ct => Task.Delay(random.Next(5, 30), ct));
                        if (Interlocked.Read(ref killedAt) != 0)
                        {
                            Interlocked.Increment(ref afterKill);
                        }
                    }
                    catch (Exception ex) when (ex is EtcdLockUnavailableException or EtcdLockTimeoutException or OperationCanceledException)
                    {
                        // A clear outcome during re-election; the loop goes on.
                        Interlocked.Increment(ref failures);
                    }
                }
            }

            var loops = providers.SelectMany((p, i) => Enumerable.Range(0, 3).Select(j => Loop(p, i * 10 + j))).ToList();
            await Task.Delay(TimeSpan.FromSeconds(3));

            EtcdServer leader = await FindLeaderAsync(cluster);
            Interlocked.Exchange(ref killedAt, Stopwatch.GetTimestamp());
            await leader.KillAsync();

            await Task.WhenAll(loops);
            foreach (var p in providers)
            {
                await p.DisposeAsync();
            }

            output.WriteLine($"{log.Count} holds, {afterKill} after the leader was killed, {failures} clear failures (unavailable/timeout) during re-election, overlaps: {log.Check().Count}");
            Assert.Empty(log.Check());
            Assert.True(log.Count > 20, $"only {log.Count} holds");
            Assert.True(afterKill > 5, $"only {afterKill} holds after the leader was killed ({failures} clear failures)");
        }
        finally
        {
            foreach (EtcdServer s in cluster)
            {
                await s.DisposeAsync();
            }
        }
    }

    private static async Task<EtcdServer> FindLeaderAsync(IReadOnlyList<EtcdServer> cluster)
    {
        foreach (EtcdServer s in cluster)
        {
            using var client = new EtcdClient(s.Endpoint);
            StatusResponse status = await client.StatusAsync(new StatusRequest());
            if (status.Leader == status.Header.MemberId)
            {
                return s;
            }
        }

        throw new InvalidOperationException("no leader found");
    }
}
