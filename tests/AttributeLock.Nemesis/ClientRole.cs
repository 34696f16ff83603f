using System.Globalization;
using dotnet_etcd;
using Etcdserverpb;
using Google.Protobuf;
using Grpc.Core;

namespace AttributeLock.Nemesis;

/// <summary>
/// One client OS process: <c>--callers</c> tasks each loop acquire → read counter → work → write counter+1 → release on
/// random keys until <c>--until</c> (unix ms), writing one JSON line per operation to <c>--out</c>. The write is a
/// guarded transaction (<see cref="EtcdLockHandle.WriteIfHeldAsync"/>, with a Range of the lock key in its success
/// branch), or a plain put with <c>--unguarded</c> (the control). The value written is "n opId token", so the checker
/// can attribute every write in etcd's history, those of killed processes included.
/// </summary>
internal static class ClientRole
{
    public static async Task<int> RunAsync(Args a)
    {
        string id = a.Get("id");
        int slot = a.Int("slot", 0);
        string endpoints = a.Get("endpoints");
        string[] keys = a.Get("keys").Split(',');
        string lockPrefix = a.Get("lock-prefix");
        string counterPrefix = a.Get("counter-prefix");
        int callers = a.Int("callers", 3);
        int ttl = a.Int("ttl", 2);
        long until = a.Long("until", 0);
        bool guarded = !a.Has("unguarded");
        int workMs = a.Int("work-ms", 100);
        int seed = a.Int("seed", 0);
        long start = a.Long("start", 0);

        await using var provider = new EtcdLockProvider(new EtcdLockProviderOptions
        {
            Endpoints = { endpoints },
            ConnectTimeout = TimeSpan.FromSeconds(2),
        });
        using var etcd = new EtcdClient(endpoints);
        KV.KVClient kv = etcd.GetConnection().KVClient;
        using var output = new StreamWriter(a.Get("out"), append: true) { AutoFlush = true };
        var gate = new object();
        int pid = Environment.ProcessId;

        if (start - Clock.Wall is > 0 and var wait)
        {
            await Task.Delay(TimeSpan.FromMilliseconds(wait));
        }

        async Task CallerAsync(int caller)
        {
            var rng = new Random(HashCode.Combine(seed, id, caller));
            int seq = 0;
            while (Clock.Wall < until)
            {
                string key = keys[rng.Next(keys.Length)];
                var rec = new OpRecord
                {
                    Client = id, Slot = slot, Pid = pid, Caller = caller, Key = key, Guarded = guarded,
                    Op = $"{id}:{caller}:{++seq}", StartMono = Clock.Mono, StartWall = Clock.Wall,
                };
                await OneAsync(provider, kv, rec, lockPrefix + key, counterPrefix + key, ttl, workMs, rng).ConfigureAwait(false);
                rec.EndMono = Clock.Mono;
                rec.EndWall = Clock.Wall;
                string line = Json.Line(rec);
                lock (gate)
                {
                    output.WriteLine(line);
                }

                if (rec.Outcome is "unavailable")
                {
                    await Task.Delay(100).ConfigureAwait(false);
                }
            }
        }

        var all = Enumerable.Range(0, callers).Select(c => Task.Run(() => CallerAsync(c))).ToList();
        if (a.Has("qout"))
        {
            // The queue roles (semaphore, reader-writer, leader) beside the lock callers: same provider, same proxies.
            using var qout = new StreamWriter(a.Get("qout"), append: true) { AutoFlush = true };
            using var tout = new StreamWriter(a.Get("tout"), append: true) { AutoFlush = true };
            void Write(StreamWriter w, string line)
            {
                lock (gate)
                {
                    w.WriteLine(line);
                }
            }

            all.Add(QueueRoles.RunAsync(a, provider, kv, line => Write(qout, line), line => Write(tout, line)));
            await Task.WhenAll(all);
            return 0;
        }

        await Task.WhenAll(all);
        return 0;
    }

    private static async Task OneAsync(EtcdLockProvider provider, KV.KVClient kv, OpRecord rec, string lockKey, string counterKey, int ttl, int workMs, Random rng)
    {
        EtcdLockHandle handle;
        rec.Stage = "acquire";
        try
        {
            handle = await provider.AcquireAsync(lockKey, new EtcdLockOptions { TtlSeconds = ttl, WaitTimeout = TimeSpan.FromSeconds(3) }).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            Fail(rec, ex);
            return;
        }

        rec.Token = handle.FencingToken;
        rec.AcquiredMono = Clock.Mono;
        var lostMono = new StrongBox<double>(double.NaN);
        var lostWall = new StrongBox<long>(0);
        using CancellationTokenRegistration registration = handle.LostToken.Register(() =>
        {
            Volatile.Write(ref lostWall.Value, Clock.Wall);
            Volatile.Write(ref lostMono.Value, Clock.Mono);
        });
        try
        {
            rec.Stage = "read";
            RangeResponse range = await kv.RangeAsync(new RangeRequest { Key = ByteString.CopyFromUtf8(counterKey) }, Deadline()).ConfigureAwait(false);
            long value = range.Kvs.Count == 0 ? 0 : long.Parse(range.Kvs[0].Value.ToStringUtf8().Split(' ')[0], CultureInfo.InvariantCulture);
            rec.Read = value;
            // The work between read and write: the window a pause or a slow network can stretch past the TTL.
            await Task.Delay(rng.Next(workMs + 1)).ConfigureAwait(false);
            // Half the operations look at the signal before writing (and skip the write when lost); the other half write
            // blindly, so the write itself must be refused (guarded) or lands stale (the control).
            if (rng.Next(2) == 0 && handle.IsLost)
            {
                rec.Outcome = "lost-signalled";
            }
            else
            {
                rec.Stage = "write";
                rec.LostBeforeWrite = handle.IsLost;
                rec.Written = value + 1;
                ByteString payload = ByteString.CopyFromUtf8($"{value + 1} {rec.Op} {handle.FencingToken}");
                if (rec.Guarded)
                {
                    TxnResponse answer = await handle.WriteIfHeldAsync(
                    [
                        new RequestOp { RequestPut = new PutRequest { Key = ByteString.CopyFromUtf8(counterKey), Value = payload } },
                        new RequestOp { RequestRange = new RangeRequest { Key = ByteString.CopyFromUtf8(lockKey) } },
                    ]).ConfigureAwait(false);
                    rec.WriteRev = answer.Header.Revision;
                    rec.LockRevAtWrite = answer.Responses[1].ResponseRange.Kvs.FirstOrDefault()?.CreateRevision ?? 0;
                }
                else
                {
                    PutResponse put = await kv.PutAsync(new PutRequest { Key = ByteString.CopyFromUtf8(counterKey), Value = payload }, Deadline()).ConfigureAwait(false);
                    rec.WriteRev = put.Header.Revision;
                }

                rec.Outcome = "applied";
                rec.Stage = null;
            }
        }
        catch (Exception ex)
        {
            Fail(rec, ex);
        }

        // Was the key taken before we let it go? A linearizable read of the lock key, then the clock-checked IsLost.
        try
        {
            RangeResponse check = await kv.RangeAsync(new RangeRequest { Key = ByteString.CopyFromUtf8(lockKey) }, Deadline(1)).ConfigureAwait(false);
            rec.KeyAtRelease = check.Kvs.FirstOrDefault()?.CreateRevision ?? 0;
        }
        catch (RpcException)
        {
            rec.KeyAtRelease = null;
        }

        rec.LostAtCheck = handle.IsLost;
        await handle.DisposeAsync().ConfigureAwait(false);
        double lost = Volatile.Read(ref lostMono.Value);
        if (!double.IsNaN(lost))
        {
            rec.LostFired = true;
            rec.LostMono = lost;
            rec.LostWall = Volatile.Read(ref lostWall.Value);
        }
    }

    private static CallOptions Deadline(double seconds = 2) => new(deadline: DateTime.UtcNow.AddSeconds(seconds));

    private static void Fail(OpRecord rec, Exception ex)
    {
        rec.Outcome = ex switch
        {
            EtcdLockNotHeldException => "refused",
            EtcdLockTimeoutException => "timeout",
            RpcException { StatusCode: StatusCode.DeadlineExceeded } => "timeout",
            OperationCanceledException => "timeout",
            _ => "unavailable",
        };
        rec.Error = ex.GetType().Name + ": " + ex.Message.Split('\n')[0];
        if (rec.Error.Length > 200)
        {
            rec.Error = rec.Error[..200];
        }
    }

    private sealed class StrongBox<T>(T value)
    {
        public T Value = value;
    }
}
