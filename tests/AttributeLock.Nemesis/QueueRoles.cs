using System.Globalization;
using Etcdserverpb;
using Google.Protobuf;
using Grpc.Core;

namespace AttributeLock.Nemesis;

/// <summary>Where the queue roles keep their keys (the driver copies them into <see cref="RunInfo"/> for the checker).</summary>
internal static class QueueLayout
{
    public const string SemPrefix = "/nemesis/sem/";
    public const string SemMarkPrefix = "/nemesis/semmark/";
    public const string RwPrefix = "/nemesis/rw/";
    public const string RwCountPrefix = "/nemesis/rwcount/";
    public const string RwMarkPrefix = "/nemesis/rwmark/";
    public const string ElectionPrefix = "/nemesis/election/";
    public const string LeaderCountPrefix = "/nemesis/leadcount/";
    public const int SemMax = 2;
    public static readonly string[] SemKeys = ["s0", "s1"];
    public static readonly string[] RwKeys = ["rw0", "rw1"];
    public const string Election = "e0";

    /// <summary>The range of a prefix's keys.</summary>
    public static RangeRequest PrefixRange(string prefix) => new()
    {
        Key = ByteString.CopyFromUtf8(prefix),
        RangeEnd = ByteString.CopyFromUtf8(prefix[..^1] + (char)(prefix[^1] + 1)),
    };
}

/// <summary>
/// The queue roles of a client process, beside its lock callers, through the same provider and fault proxies:
/// <list type="bullet">
/// <item><c>--sem-callers</c> tasks loop: a ticket of a semaphore (MaxCount 2, one of two keys, wait timeout 3 s), a
/// guarded write of a marker key with a Range of the semaphore's tickets in the same success branch, release.</item>
/// <item><c>--rw-callers</c> tasks loop on one of two reader-writer locks: a third of the operations take the write
/// side and do the lock role's guarded read-modify-write increment of the lock's counter, the others take the read side
/// and write a marker; both with a Range of the lock's readers and writers in the guarded transaction.</item>
/// <item><c>--leader</c>: <see cref="EtcdLeadership.RunAsync"/> on one election; the body loops guarded increments of
/// the leader counter while leading (one <see cref="TermRecord"/> per term).</item>
/// </list>
/// Every value written is "n opId token" (n = the counter's new value, or the marker's sequence number), so the
/// checker attributes every write in etcd's history to its operation and ticket. <c>--unguarded</c>: the same
/// transactions without the ownership comparisons (the control).
/// </summary>
internal static class QueueRoles
{
    private const int WorkMs = 100;

    public static async Task RunAsync(Args a, EtcdLockProvider provider, KV.KVClient kv, Action<string> writeOp, Action<string> writeTerm)
    {
        string id = a.Get("id");
        int slot = a.Int("slot", 0);
        int ttl = a.Int("ttl", 2);
        long until = a.Long("until", 0);
        bool guarded = !a.Has("unguarded");
        int seed = a.Int("seed", 0);
        int semCallers = a.Int("sem-callers", 0);
        int rwCallers = a.Int("rw-callers", 0);
        bool leader = a.Has("leader");
        int pid = Environment.ProcessId;

        async Task CallerAsync(string role, int caller)
        {
            var rng = new Random(HashCode.Combine(seed, id, role, caller));
            int seq = 0;
            while (Clock.Wall < until)
            {
                string kind = role == "sem" ? "sem" : rng.Next(3) == 0 ? "write" : "read";
                string[] keys = role == "sem" ? QueueLayout.SemKeys : QueueLayout.RwKeys;
                var rec = new QueueOpRecord
                {
                    Role = kind, Client = id, Slot = slot, Pid = pid, Caller = caller, Key = keys[rng.Next(keys.Length)], Guarded = guarded,
                    Op = $"{id}:{role}{caller}:{++seq}", StartMono = Clock.Mono, StartWall = Clock.Wall,
                };
                await OneAsync(provider, kv, rec, ttl, rng, seq).ConfigureAwait(false);
                rec.EndMono = Clock.Mono;
                rec.EndWall = Clock.Wall;
                writeOp(Json.Line(rec));
                if (rec.Outcome is "unavailable")
                {
                    await Task.Delay(100).ConfigureAwait(false);
                }
            }
        }

        var tasks = new List<Task>();
        tasks.AddRange(Enumerable.Range(0, semCallers).Select(c => Task.Run(() => CallerAsync("sem", c))));
        tasks.AddRange(Enumerable.Range(0, rwCallers).Select(c => Task.Run(() => CallerAsync("rw", c))));
        if (leader)
        {
            tasks.Add(Task.Run(() => LeaderAsync(provider, kv, id, slot, pid, ttl, until, guarded, seed, writeOp, writeTerm)));
        }

        await Task.WhenAll(tasks).ConfigureAwait(false);
    }

    private static string FullKey(string role, string key) => role switch
    {
        "sem" => QueueLayout.SemPrefix + key,
        "leader" => QueueLayout.ElectionPrefix + key,
        _ => QueueLayout.RwPrefix + key,
    };

    /// <summary>The tickets the write's transaction reads: the semaphore's, the lock's readers and writers, the candidates.</summary>
    private static string TicketsPrefix(string role, string key) => role switch
    {
        "sem" => FullKey(role, key) + "/#sem/",
        "leader" => FullKey(role, key) + "/#leader/",
        _ => FullKey(role, key) + "/#rw/",
    };

    private static async Task OneAsync(EtcdLockProvider provider, KV.KVClient kv, QueueOpRecord rec, int ttl, Random rng, int seq)
    {
        string fullKey = FullKey(rec.Role, rec.Key);
        var options = new EtcdLockOptions { TtlSeconds = ttl, WaitTimeout = TimeSpan.FromSeconds(3) };
        EtcdLockHandle handle;
        rec.Stage = "acquire";
        try
        {
            handle = rec.Role switch
            {
                "sem" => await provider.AcquireSemaphoreAsync(fullKey, QueueLayout.SemMax, options).ConfigureAwait(false),
                "write" => await provider.AcquireWriteLockAsync(fullKey, options).ConfigureAwait(false),
                _ => await provider.AcquireReadLockAsync(fullKey, options).ConfigureAwait(false),
            };
        }
        catch (Exception ex)
        {
            Fail(rec, ex);
            return;
        }

        rec.Token = handle.FencingToken;
        rec.Ticket = handle.Key;
        rec.AcquiredMono = Clock.Mono;
        double lostMono = double.NaN;
        using (handle.LostToken.Register(() => Volatile.Write(ref lostMono, Clock.Mono)))
        {
            try
            {
                long n = seq;
                string target = rec.Role switch
                {
                    "sem" => QueueLayout.SemMarkPrefix + rec.Key,
                    "write" => QueueLayout.RwCountPrefix + rec.Key,
                    _ => QueueLayout.RwMarkPrefix + rec.Key,
                };
                if (rec.Role == "write")
                {
                    rec.Stage = "read";
                    n = await ReadCounterAsync(kv, target).ConfigureAwait(false) + 1;
                    rec.Read = n - 1;
                }

                await Task.Delay(rng.Next(WorkMs + 1)).ConfigureAwait(false);
                await WriteAsync(handle, kv, rec, target, n, rng).ConfigureAwait(false);
            }
            catch (Exception ex)
            {
                Fail(rec, ex);
            }

            await CheckAsync(handle, kv, rec).ConfigureAwait(false);
            await handle.DisposeAsync().ConfigureAwait(false);
        }

        double lost = Volatile.Read(ref lostMono);
        if (!double.IsNaN(lost))
        {
            rec.LostFired = true;
            rec.LostMono = lost;
        }
    }

    private static async Task<long> ReadCounterAsync(KV.KVClient kv, string key)
    {
        RangeResponse range = await kv.RangeAsync(new RangeRequest { Key = ByteString.CopyFromUtf8(key) }, Deadline()).ConfigureAwait(false);
        return range.Kvs.Count == 0 ? 0 : long.Parse(range.Kvs[0].Value.ToStringUtf8().Split(' ')[0], CultureInfo.InvariantCulture);
    }

    /// <summary>
    /// Half the operations look at the signal first (and skip the write when lost); the others write blindly, so the
    /// guard alone must refuse a stale write. The transaction: put "n opId token" at <paramref name="target"/>, and a
    /// Range of the primitive's tickets (what the transaction saw, for the checker to compare with its replay).
    /// </summary>
    private static async Task WriteAsync(EtcdLockHandle handle, KV.KVClient kv, QueueOpRecord rec, string target, long n, Random rng)
    {
        if (rng.Next(2) == 0 && handle.IsLost)
        {
            rec.Outcome = "lost-signalled";
            return;
        }

        rec.Stage = "write";
        rec.LostBeforeWrite = handle.IsLost;
        rec.Written = n;
        RequestOp[] ops =
        [
            new RequestOp { RequestPut = new PutRequest { Key = ByteString.CopyFromUtf8(target), Value = ByteString.CopyFromUtf8($"{n} {rec.Op} {handle.FencingToken}") } },
            new RequestOp { RequestRange = QueueLayout.PrefixRange(TicketsPrefix(rec.Role, rec.Key)) },
        ];
        rec.WriteMono = Clock.Mono;
        TxnResponse answer;
        if (rec.Guarded)
        {
            answer = await handle.WriteIfHeldAsync(ops).ConfigureAwait(false);
        }
        else
        {
            var txn = new TxnRequest();
            txn.Success.AddRange(ops);
            answer = await kv.TxnAsync(txn, Deadline()).ConfigureAwait(false);
        }

        rec.WroteMono = Clock.Mono;
        rec.WriteRev = answer.Header.Revision;
        var kvs = answer.Responses[1].ResponseRange.Kvs;
        rec.OwnAtWrite = kvs.Any(k => k.Key.ToStringUtf8() == handle.Key);
        rec.OlderAtWrite = kvs.Count(k => k.CreateRevision < handle.FencingToken && (rec.Role != "read" || k.Key.ToStringUtf8().Contains("/#rw/w/", StringComparison.Ordinal)));
        rec.Outcome = "applied";
        rec.Stage = null;
    }

    /// <summary>Was the ticket taken? A linearizable read of its key, then the clock-checked IsLost.</summary>
    private static async Task CheckAsync(EtcdLockHandle handle, KV.KVClient kv, QueueOpRecord rec)
    {
        try
        {
            RangeResponse check = await kv.RangeAsync(new RangeRequest { Key = ByteString.CopyFromUtf8(handle.Key) }, Deadline(1)).ConfigureAwait(false);
            rec.KeyAtRelease = check.Kvs.FirstOrDefault()?.CreateRevision ?? 0;
        }
        catch (RpcException)
        {
            rec.KeyAtRelease = null;
        }

        rec.LostAtCheck = handle.IsLost;
    }

    private static async Task LeaderAsync(EtcdLockProvider provider, KV.KVClient kv, string id, int slot, int pid, int ttl, long until, bool guarded, int seed, Action<string> writeOp, Action<string> writeTerm)
    {
        using var stop = new CancellationTokenSource(TimeSpan.FromMilliseconds(Math.Max(1, until - Clock.Wall)));
        var rng = new Random(HashCode.Combine(seed, id, "leader"));
        int seq = 0;
        string counter = QueueLayout.LeaderCountPrefix + QueueLayout.Election;
        await EtcdLeadership.RunAsync(provider, QueueLayout.ElectionPrefix + QueueLayout.Election, new EtcdLockOptions { TtlSeconds = ttl }, async token =>
        {
            EtcdLockHandle h = EtcdLockContext.Current ?? throw new InvalidOperationException("no leadership in the body");
            var term = new TermRecord
            {
                Client = id, Slot = slot, Pid = pid, Key = QueueLayout.Election, Token = h.FencingToken, Ticket = h.Key,
                StartMono = Clock.Mono, StartWall = Clock.Wall,
            };
            double lostMono = double.NaN;
            using (h.LostToken.Register(() => Volatile.Write(ref lostMono, Clock.Mono)))
            {
                while (!token.IsCancellationRequested)
                {
                    var rec = new QueueOpRecord
                    {
                        Role = "leader", Client = id, Slot = slot, Pid = pid, Key = QueueLayout.Election, Guarded = guarded,
                        Op = $"{id}:leader:{++seq}", StartMono = Clock.Mono, StartWall = Clock.Wall,
                        Token = h.FencingToken, Ticket = h.Key, AcquiredMono = term.StartMono,
                    };
                    try
                    {
                        rec.Stage = "read";
                        long n = await ReadCounterAsync(kv, counter).ConfigureAwait(false) + 1;
                        rec.Read = n - 1;
                        await Task.Delay(rng.Next(WorkMs + 1)).ConfigureAwait(false);
                        await WriteAsync(h, kv, rec, counter, n, rng).ConfigureAwait(false);
                    }
                    catch (Exception ex)
                    {
                        Fail(rec, ex);
                    }

                    await CheckAsync(h, kv, rec).ConfigureAwait(false);
                    rec.EndMono = Clock.Mono;
                    rec.EndWall = Clock.Wall;
                    double lost = Volatile.Read(ref lostMono);
                    rec.LostFired = !double.IsNaN(lost);
                    rec.LostMono = rec.LostFired ? lost : null;
                    term.Ops++;
                    writeOp(Json.Line(rec));
                    await Task.Delay(50 + rng.Next(100), token).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
                }

                term.EndMono = Clock.Mono;
                double l = Volatile.Read(ref lostMono);
                term.LostFired = !double.IsNaN(l);
                term.LostMono = term.LostFired ? l : null;
                term.End = h.IsLost || term.LostFired ? "lost" : "stopped";
                writeTerm(Json.Line(term));
            }
        }, stop.Token, new StderrLogger()).ConfigureAwait(false);
    }

    private static CallOptions Deadline(double seconds = 2) => new(deadline: DateTime.UtcNow.AddSeconds(seconds));

    private static void Fail(QueueOpRecord rec, Exception ex)
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
}
