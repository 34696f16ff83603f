// A minimal demo of the lock engine: several tasks contend for one lock and do a non-atomic
// read-increment-write of a counter in etcd; the lock keeps every increment.
using System.Diagnostics;
using AttributeLock;
using dotnet_etcd;
using Etcdserverpb;
using Google.Protobuf;

string endpoints = Environment.GetEnvironmentVariable("ETCD_ENDPOINTS")
    ?? throw new InvalidOperationException("Set ETCD_ENDPOINTS (scripts/with-etcd.sh starts a local etcd and sets it).");
const int workers = 4, rounds = 5;
string run = Guid.NewGuid().ToString("N")[..8];
string counterKey = $"/demo/{run}/counter";

await using var locks = new EtcdLockProvider(new EtcdLockProviderOptions { Endpoints = { endpoints }, KeyPrefix = "/demo-locks" });
using var etcd = new EtcdClient(endpoints.Split(',')[0]);
var clock = Stopwatch.StartNew();
Console.WriteLine($"etcd: {endpoints}   holder id: {locks.HolderId}");

await Task.WhenAll(Enumerable.Range(1, workers).Select(w => Task.Run(async () =>
{
    for (int i = 0; i < rounds; i++)
    {
        var waitStart = clock.Elapsed;
        await using EtcdLockHandle h = await locks.AcquireAsync($"/{run}/counter", new EtcdLockOptions { TtlSeconds = 5 });
        var waited = clock.Elapsed - waitStart;
        RangeResponse r = await etcd.GetAsync(counterKey);
        long value = r.Kvs.Count == 0 ? 0 : long.Parse(r.Kvs[0].Value.ToStringUtf8());
        await Task.Delay(20); // a non-atomic read-modify-write: only the lock keeps it correct
        await etcd.PutAsync(new PutRequest { Key = ByteString.CopyFromUtf8(counterKey), Value = ByteString.CopyFromUtf8((value + 1).ToString()) });
        Console.WriteLine($"{clock.Elapsed.TotalSeconds,6:F2}s  worker {w} holds {h.Key}  fencing token {h.FencingToken}  waited {waited.TotalMilliseconds,5:F0} ms  counter {value} -> {value + 1}");
    }
})));

RangeResponse final = await etcd.GetAsync(counterKey);
long count = long.Parse(final.Kvs[0].Value.ToStringUtf8());
Console.WriteLine($"{workers * rounds} locked increments, counter = {count}, lost updates = {workers * rounds - count}");
return count == workers * rounds ? 0 : 1;
