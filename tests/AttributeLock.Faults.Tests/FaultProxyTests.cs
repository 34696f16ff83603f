using System.Diagnostics;
using AttributeLock.EtcdFixture;
using dotnet_etcd;
using Etcdserverpb;
using Google.Protobuf;
using Grpc.Core;
using Xunit.Abstractions;

namespace AttributeLock.Faults.Tests;

/// <summary>
/// The <see cref="FaultProxy"/> itself, with a plain dotnet-etcd client through it to a real etcd. Only lower time
/// bounds are asserted; the upper ones are gRPC deadlines (a call must fail by its deadline, not hang). They run alone:
/// beside other classes, the byte counts of the one-way-cut test differed (173 against 156 bytes held) in a stress run
/// at load 25, with other clients' traffic on the shared etcd.
/// </summary>
[Collection(nameof(ProxyTimingCollection))]
public sealed class FaultProxyTests(ITestOutputHelper output)
{
    private static async Task<FaultProxy> StartProxyAsync() =>
        new(SharedEtcd.First(await SharedEtcd.GetEndpointsAsync()));

    private static ByteString Key(string name) => ByteString.CopyFromUtf8($"/fault-proxy/{name}/{Guid.NewGuid():N}");

    private static Task<PutResponse> PutAsync(EtcdClient client, ByteString key, string value, TimeSpan deadline) =>
        client.GetConnection().KVClient.PutAsync(new PutRequest { Key = key, Value = ByteString.CopyFromUtf8(value) },
            deadline: DateTime.UtcNow + deadline).ResponseAsync;

    private static async Task<string?> GetAsync(EtcdClient client, ByteString key, TimeSpan deadline)
    {
        RangeResponse response = await client.GetConnection().KVClient.RangeAsync(new RangeRequest { Key = key }, deadline: DateTime.UtcNow + deadline);
        return response.Kvs.Count == 0 ? null : response.Kvs[0].Value.ToStringUtf8();
    }

    /// <summary>
    /// A call that ran into its deadline: gRPC reports DeadlineExceeded; dotnet-etcd's call path sometimes surfaces the
    /// same deadline as a cancellation instead. Anything else (a reset, unavailable) is a failure the fault must not cause.
    /// </summary>
    private static async Task<Exception> TimesOutAsync(Func<Task> call)
    {
        Exception failure = await Assert.ThrowsAnyAsync<Exception>(call);
        Assert.True(failure is RpcException { StatusCode: StatusCode.DeadlineExceeded } or OperationCanceledException,
            $"expected the call to run into its deadline, got {failure}");
        return failure;
    }

    private static string Describe(Exception ex) => ex is RpcException rpc ? rpc.StatusCode.ToString() : ex.GetType().Name;

    /// <summary>After a heal the channel may still be backing off its reconnects: calls work again within a generous time.</summary>
    private async Task<TimeSpan> EventuallyPutAsync(EtcdClient client, ByteString key, string value)
    {
        var sw = Stopwatch.StartNew();
        while (true)
        {
            try
            {
                await PutAsync(client, key, value, TimeSpan.FromSeconds(2));
                return sw.Elapsed;
            }
            // A call that runs into its deadline fails as RpcException(DeadlineExceeded) or, when the gRPC client's
            // deadline timer races its HTTP/2 read, as TaskCanceledException (seen once in a stress run): both mean "not yet".
            catch (Exception ex) when (ex is RpcException or OperationCanceledException && sw.Elapsed < TimeSpan.FromSeconds(30))
            {
                output.WriteLine($"  after heal, +{sw.ElapsedMilliseconds} ms: {Describe(ex)}");
                await Task.Delay(200);
            }
        }
    }

    [Fact]
    public async Task Put_and_get_pass_through_and_bytes_are_counted_per_direction()
    {
        await using FaultProxy proxy = await StartProxyAsync();
        using var client = new EtcdClient(proxy.Endpoint);
        ByteString key = Key("pass");

        await PutAsync(client, key, "v1", TimeSpan.FromSeconds(5));
        Assert.Equal("v1", await GetAsync(client, key, TimeSpan.FromSeconds(5)));

        output.WriteLine($"forwarded: {proxy.BytesForwarded(Direction.ClientToTarget)} B up, {proxy.BytesForwarded(Direction.TargetToClient)} B down, {proxy.OpenConnections} open");
        Assert.True(proxy.BytesForwarded(Direction.ClientToTarget) > 0);
        Assert.True(proxy.BytesForwarded(Direction.TargetToClient) > 0);
        Assert.Equal(1, proxy.OpenConnections);
        Assert.Equal(0, proxy.BytesDropped(Direction.ClientToTarget) + proxy.BytesDropped(Direction.TargetToClient));
    }

    [Fact]
    public async Task Cut_fails_calls_by_their_deadline_and_heal_makes_them_work_again()
    {
        await using FaultProxy proxy = await StartProxyAsync();
        using var client = new EtcdClient(proxy.Endpoint);
        ByteString key = Key("cut");
        await PutAsync(client, key, "before", TimeSpan.FromSeconds(5));

        proxy.Cut();
        Assert.Equal(0, proxy.OpenConnections); // reset at once, not at the next byte
        var sw = Stopwatch.StartNew();
        Exception failure = await Assert.ThrowsAnyAsync<Exception>(() => PutAsync(client, key, "during", TimeSpan.FromSeconds(5)));
        output.WriteLine($"call during the cut failed after {sw.ElapsedMilliseconds} ms: {(failure as RpcException)?.StatusCode.ToString() ?? failure.GetType().Name}; connections: {proxy.ClosedConnections} closed, {proxy.RefusedConnections} refused");
        // gRPC's retry path (dotnet-etcd's channel retries Unavailable) can surface a deadline that fires during its
        // backoff as OperationCanceledException rather than DeadlineExceeded (seen once at load 25); the engine maps
        // both to a transient failure. Anything else, or no failure, still fails here.
        Assert.True(
            failure is OperationCanceledException or RpcException { StatusCode: StatusCode.Unavailable or StatusCode.DeadlineExceeded or StatusCode.Internal },
            $"the call during the cut failed with {failure}");
        Assert.True(proxy.ClosedConnections >= 1);

        proxy.Heal();
        TimeSpan back = await EventuallyPutAsync(client, key, "after");
        output.WriteLine($"calls work again {back.TotalMilliseconds:F0} ms after the heal");
        Assert.Equal("after", await GetAsync(client, key, TimeSpan.FromSeconds(5)));
    }

    [Fact]
    public async Task Black_hole_times_a_call_out_while_the_connection_stays_open_and_heal_recovers()
    {
        await using FaultProxy proxy = await StartProxyAsync();
        using var client = new EtcdClient(proxy.Endpoint);
        ByteString key = Key("black-hole");
        await PutAsync(client, key, "before", TimeSpan.FromSeconds(5));
        long closedBefore = proxy.ClosedConnections;

        proxy.BlackHole();
        var sw = Stopwatch.StartNew();
        Exception failure = await TimesOutAsync(() => PutAsync(client, key, "during", TimeSpan.FromSeconds(1)));
        output.WriteLine($"call in the black hole: {Describe(failure)} after {sw.ElapsedMilliseconds} ms; dropped {proxy.BytesDropped(Direction.ClientToTarget)} B up; {proxy.OpenConnections} open, {proxy.ClosedConnections - closedBefore} closed meanwhile");
        Assert.True(sw.Elapsed >= TimeSpan.FromSeconds(0.9), "nothing may fail in a black hole: only the deadline ends the call");
        Assert.True(proxy.BytesDropped(Direction.ClientToTarget) > 0);
        Assert.Equal(1, proxy.OpenConnections);
        Assert.Equal(closedBefore, proxy.ClosedConnections);

        proxy.Heal(); // the connection lost bytes: it is reset, and the client reconnects
        TimeSpan back = await EventuallyPutAsync(client, key, "after");
        output.WriteLine($"calls work again {back.TotalMilliseconds:F0} ms after the heal");
        Assert.Equal("after", await GetAsync(client, key, TimeSpan.FromSeconds(5)));
    }

    [Fact]
    public async Task One_way_cut_holds_the_answers_on_an_open_connection_and_heal_delivers_them()
    {
        await using FaultProxy proxy = await StartProxyAsync();
        using var client = new EtcdClient(proxy.Endpoint);
        ByteString key = Key("one-way");
        await PutAsync(client, key, "before", TimeSpan.FromSeconds(5));
        long downBefore = proxy.BytesForwarded(Direction.TargetToClient);

        proxy.CutOneWay(Direction.TargetToClient);
        var sw = Stopwatch.StartNew();
        Exception failure = await TimesOutAsync(() => PutAsync(client, key, "during", TimeSpan.FromSeconds(1)));
        output.WriteLine($"call with the answers held: {Describe(failure)} after {sw.ElapsedMilliseconds} ms");
        Assert.True(sw.Elapsed >= TimeSpan.FromSeconds(0.9), "nothing may fail while one direction is cut: only the deadline ends the call");
        Assert.Equal(downBefore, proxy.BytesForwarded(Direction.TargetToClient));
        Assert.Equal(1, proxy.OpenConnections);

        // The request went through (only answers are held): etcd applied it.
        using (var direct = new EtcdClient(SharedEtcd.First(await SharedEtcd.GetEndpointsAsync())))
        {
            Assert.Equal("during", await GetAsync(direct, key, TimeSpan.FromSeconds(5)));
        }

        proxy.Heal();
        await PutAsync(client, key, "after", TimeSpan.FromSeconds(5)); // same connection: nothing was lost, only late
        output.WriteLine($"after the heal: {proxy.BytesForwarded(Direction.TargetToClient) - downBefore} B delivered down, {proxy.ClosedConnections} closed");
        Assert.Equal(0, proxy.ClosedConnections);
        Assert.True(proxy.BytesForwarded(Direction.TargetToClient) > downBefore);
    }

    [Fact]
    public async Task Latency_delays_a_put_by_at_least_the_added_latency()
    {
        await using FaultProxy proxy = await StartProxyAsync();
        using var client = new EtcdClient(proxy.Endpoint);
        ByteString key = Key("latency");
        await PutAsync(client, key, "warm-up", TimeSpan.FromSeconds(5));
        TimeSpan latency = TimeSpan.FromMilliseconds(300);

        proxy.SetLatency(latency);
        var sw = Stopwatch.StartNew();
        await PutAsync(client, key, "slow", TimeSpan.FromSeconds(10));
        TimeSpan slow = sw.Elapsed;

        proxy.Heal();
        sw.Restart();
        await PutAsync(client, key, "fast", TimeSpan.FromSeconds(5));
        output.WriteLine($"put with {latency.TotalMilliseconds} ms added each way: {slow.TotalMilliseconds:F0} ms; after heal: {sw.Elapsed.TotalMilliseconds:F0} ms");
        Assert.True(slow >= latency, $"the put took {slow}, less than the added latency");
        Assert.Equal(0, proxy.ClosedConnections);
    }

    [Fact]
    public async Task Isolating_a_follower_from_the_leader_leaves_the_majority_working()
    {
        await using PartitionableCluster cluster = await PartitionableCluster.StartAsync(3);
        (int leader, int follower, int other) = await ProxyFaultTests.RolesAsync(cluster);
        output.WriteLine($"leader m{leader}, isolated follower m{follower}, other m{other}; peer connections routed directly: [{string.Join("; ", cluster.Unclassified)}]");
        Assert.Equal(0, cluster.OpenUnclassifiedConnections);
        Assert.True(cluster.Link(leader, follower).OpenConnections > 0 && cluster.Link(follower, leader).OpenConnections > 0);

        cluster.Isolate(leader, follower);
        using var viaOther = new EtcdClient(cluster.Members[other].Endpoint);
        using var viaFollower = new EtcdClient(cluster.Members[follower].Endpoint);
        ByteString key = Key("isolated");
        await PutAsync(viaOther, key, "majority", TimeSpan.FromSeconds(5));
        // The write through the minority must fail. The gRPC client usually says DeadlineExceeded, but when its
        // deadline timer races the HTTP/2 read it throws TaskCanceledException instead (seen once in CI under load).
        Exception failure = await Assert.ThrowsAnyAsync<Exception>(() => PutAsync(viaFollower, key, "minority", TimeSpan.FromSeconds(3)));
        Assert.True(failure is RpcException or OperationCanceledException, $"the put through the isolated follower failed with an unexpected {failure}");
        output.WriteLine($"put through the isolated follower: {(failure is RpcException rpc ? $"{rpc.StatusCode} {rpc.Status.Detail}" : failure.GetType().Name)}");
        Assert.Equal("majority", await GetAsync(viaOther, key, TimeSpan.FromSeconds(5)));

        cluster.HealAll();
        TimeSpan back = await EventuallyPutAsync(viaFollower, key, "healed");
        output.WriteLine($"the follower serves writes again {back.TotalMilliseconds:F0} ms after the heal");
    }
}
