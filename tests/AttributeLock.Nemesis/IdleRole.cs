using dotnet_etcd;
using Etcdserverpb;
using Google.Protobuf;
using Grpc.Core;

namespace AttributeLock.Nemesis;

/// <summary>
/// The idle holder: one OS process holding <c>--holds</c> long-lived locks on keys of its own
/// (<c>&lt;idle-prefix&gt;&lt;id&gt;/&lt;i&gt;</c>) with the normal engine, so a few hundred holds are alive — and watched on
/// one watch stream — while the nemesis runs. Each hold is kept until it is reported lost (<c>LostToken</c>), then
/// released and acquired again (a key taken over by the nemesis stays foreign until its foreign lease expires); at
/// the end time (which the driver writes into <c>--until-file</c>) every hold still held is read (a linearizable read of its key, then the clock-checked
/// <c>IsLost</c>) and released. One JSON line when a hold begins and one when it ends (<see cref="IdleRecord"/>).
/// </summary>
internal static class IdleRole
{
    public static async Task<int> RunAsync(Args a)
    {
        string id = a.Get("id");
        int slot = a.Int("slot", 0);
        string endpoints = a.Get("endpoints");
        string prefix = a.Get("idle-prefix") + id + "/";
        int holds = a.Int("holds", 330);
        int ttl = a.Int("ttl", 3);
        string untilFile = a.Get("until-file");

        await using var provider = new EtcdLockProvider(new EtcdLockProviderOptions
        {
            Endpoints = { endpoints },
            ConnectTimeout = TimeSpan.FromSeconds(2),
        }, new StderrLogger());
        using var etcd = new EtcdClient(endpoints);
        KV.KVClient kv = etcd.GetConnection().KVClient;
        using var output = new StreamWriter(a.Get("out"), append: true) { AutoFlush = true };
        var gate = new object();
        int pid = Environment.ProcessId;
        // At most this many acquisitions at a time: a start (or a mass loss) does not storm the cluster.
        using var acquiring = new SemaphoreSlim(32);
        // The driver writes the end time (unix ms) once the holds are all taken and the fault phase is scheduled.
        using var stop = new CancellationTokenSource();
        _ = Task.Run(async () =>
        {
            while (!File.Exists(untilFile) || !long.TryParse(File.ReadAllText(untilFile), out _))
            {
                await Task.Delay(200).ConfigureAwait(false);
            }

            long until = long.Parse(File.ReadAllText(untilFile), System.Globalization.CultureInfo.InvariantCulture);
            stop.CancelAfter(TimeSpan.FromMilliseconds(Math.Max(0, until - Clock.Wall)));
        });

        void Write(IdleRecord r)
        {
            string line = Json.Line(r);
            lock (gate)
            {
                output.WriteLine(line);
            }
        }

        async Task HoldAsync(int i)
        {
            string key = prefix + i.ToString(System.Globalization.CultureInfo.InvariantCulture);
            while (!stop.IsCancellationRequested)
            {
                EtcdLockHandle handle;
                await acquiring.WaitAsync().ConfigureAwait(false);
                try
                {
                    handle = await provider.AcquireAsync(key, new EtcdLockOptions { TtlSeconds = ttl, WaitTimeout = TimeSpan.FromSeconds(10) }, stop.Token).ConfigureAwait(false);
                }
                catch (Exception)
                {
                    // Unavailable, or still held by a foreign lease: try again shortly.
                    acquiring.Release();
                    await Task.Delay(500).ConfigureAwait(false);
                    continue;
                }

                acquiring.Release();
                var rec = new IdleRecord
                {
                    Kind = "acquired", Client = id, Slot = slot, Pid = pid, Key = handle.Key, Token = handle.FencingToken,
                    Lease = handle.LeaseId, AcquiredWall = Clock.Wall,
                };
                Write(rec);
                (string heldKey, long token, long lease) = (rec.Key, rec.Token, rec.Lease);
                long lostWall = 0;
                var lost = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                using (handle.LostToken.Register(() =>
                {
                    long now = Clock.Wall;
                    Interlocked.Exchange(ref lostWall, now);
                    // At once: a process killed before the hold's end line still shows when it signalled.
                    Write(new IdleRecord { Kind = "lost", Client = id, Slot = slot, Pid = pid, Key = heldKey, Token = token, Lease = lease, LostFired = true, LostWall = now });
                    lost.TrySetResult();
                }))
                {
                    await Task.WhenAny(lost.Task, Task.Delay(Timeout.Infinite, stop.Token)).ConfigureAwait(false);
                    rec.Kind = "ended";
                    if (!lost.Task.IsCompleted)
                    {
                        // The run's end: was the key still ours? Read it, then ask the clock-checked IsLost.
                        rec.How = "released";
                        try
                        {
                            RangeResponse range = await kv.RangeAsync(new RangeRequest { Key = ByteString.CopyFromUtf8(handle.Key) },
                                new CallOptions(deadline: DateTime.UtcNow.AddSeconds(2))).ConfigureAwait(false);
                            Mvccpb.KeyValue? k = range.Kvs.FirstOrDefault();
                            rec.KeyAtEnd = new KeyState { CreateRev = k?.CreateRevision ?? 0, ModRev = k?.ModRevision ?? 0, Lease = k?.Lease ?? 0, Rev = range.Header.Revision };
                        }
                        catch (RpcException)
                        {
                        }

                        rec.LostAtCheck = handle.IsLost;
                    }
                    else
                    {
                        rec.How = "lost";
                    }

                    await handle.DisposeAsync().ConfigureAwait(false);
                }

                long lw = Interlocked.Read(ref lostWall);
                rec.LostFired = lw != 0;
                rec.LostWall = lw != 0 ? lw : null;
                rec.EndWall = Clock.Wall;
                Write(rec);
                if (rec.How == "released")
                {
                    return;
                }
            }
        }

        await Task.WhenAll(Enumerable.Range(0, holds).Select(i => Task.Run(() => HoldAsync(i))));
        return 0;
    }
}
