// A separate OS process for the cross-process lock tests.
//   counter <endpoints> <lockKey> <counterKey> <tasks> <iterations>
//       each task: acquire, read counter, yield, write counter+1, release. Prints "DONE <n>".
//   hold <endpoints> <lockKey> <ttlSeconds>
//       acquires and prints "ACQUIRED <leaseId> <fencingToken>", then holds until killed.
//   throwing-callback <endpoints> <lockKey>
//       acquires with TTL 2, registers a LostToken callback that throws, prints "ARMED"; once the hold is lost
//       (the test pauses etcd) waits a second and prints "ALIVE": the process survived the user's callback.
//   leader <endpoints> <election> <ttlSeconds> <counterKey>
//       campaigns (EtcdLeadership.RunAsync) until SIGTERM; while leading prints "LEADING <token>", then loops a guarded
//       read-modify-write increment of <counterKey> ("n token"), printing "WROTE <n> <token>" or "REFUSED <token>"
//       (the write was refused: the leadership is gone). On SIGTERM it resigns and prints "STOPPED".
using AttributeLock;
using dotnet_etcd;
using Etcdserverpb;
using Google.Protobuf;

string mode = args[0];
string endpoints = args[1];
await using var provider = new EtcdLockProvider(new EtcdLockProviderOptions { Endpoints = { endpoints } });

switch (mode)
{
    case "counter":
    {
        string lockKey = args[2];
        string counterKey = args[3];
        int tasks = int.Parse(args[4]);
        int iterations = int.Parse(args[5]);
        using var client = new EtcdClient(endpoints);
        int done = 0;
        await Task.WhenAll(Enumerable.Range(0, tasks).Select(_ => Task.Run(async () =>
        {
            for (int i = 0; i < iterations; i++)
            {
                await using EtcdLockHandle handle = await provider.AcquireAsync(lockKey, new EtcdLockOptions { TtlSeconds = 5 });
                // Deliberately non-atomic read-modify-write: only the lock keeps it correct.
                RangeResponse range = await client.GetAsync(counterKey);
                long value = range.Kvs.Count == 0 ? 0 : long.Parse(range.Kvs[0].Value.ToStringUtf8());
                await Task.Yield();
                await client.PutAsync(new PutRequest { Key = ByteString.CopyFromUtf8(counterKey), Value = ByteString.CopyFromUtf8((value + 1).ToString()) });
                Interlocked.Increment(ref done);
            }
        })));
        Console.WriteLine($"DONE {done}");
        return 0;
    }

    case "hold":
    {
        EtcdLockHandle handle = await provider.AcquireAsync(args[2], new EtcdLockOptions { TtlSeconds = int.Parse(args[3]) });
        Console.WriteLine($"ACQUIRED {handle.LeaseId} {handle.FencingToken}");
        await Task.Delay(Timeout.Infinite);
        return 0;
    }

    case "throwing-callback":
    {
        EtcdLockHandle handle = await provider.AcquireAsync(args[2], new EtcdLockOptions { TtlSeconds = 2 });
        handle.LostToken.Register(() => throw new InvalidOperationException("a user's LostToken callback that throws"));
        Console.WriteLine("ARMED");
        try
        {
            await Task.Delay(TimeSpan.FromSeconds(60), handle.LostToken);
            Console.WriteLine("NEVER-LOST");
            return 1;
        }
        catch (OperationCanceledException)
        {
        }

        await Task.Delay(1000);
        Console.WriteLine($"ALIVE lost={handle.IsLost}");
        return 0;
    }

    case "leader":
    {
        string election = args[2];
        int ttl = int.Parse(args[3]);
        string counterKey = args[4];
        using var stop = new CancellationTokenSource();
        using var sigterm = System.Runtime.InteropServices.PosixSignalRegistration.Create(System.Runtime.InteropServices.PosixSignal.SIGTERM, c =>
        {
            c.Cancel = true; // the host's stop: resign, then exit
            stop.Cancel();
        });
        await EtcdLeadership.RunAsync(provider, election, new EtcdLockOptions { TtlSeconds = ttl }, async leading =>
        {
            EtcdLockHandle leadership = EtcdLockContext.Current!;
            Console.WriteLine($"LEADING {leadership.FencingToken}");
            while (true)
            {
                string? value = await leadership.GetAsync(counterKey);
                long n = value is null ? 0 : long.Parse(value.Split(' ')[0]);
                // Not cancelled by the loss: a paused leader that resumes still tries its write, which etcd must refuse.
                await Task.Delay(50);
                try
                {
                    await leadership.PutIfHeldAsync(counterKey, $"{n + 1} {leadership.FencingToken}");
                    Console.WriteLine($"WROTE {n + 1} {leadership.FencingToken}");
                }
                catch (EtcdLockNotHeldException)
                {
                    Console.WriteLine($"REFUSED {leadership.FencingToken}");
                }

                leading.ThrowIfCancellationRequested();
            }
        }, stop.Token);
        Console.WriteLine("STOPPED");
        return 0;
    }

    default:
        Console.Error.WriteLine($"unknown mode {mode}");
        return 2;
}
