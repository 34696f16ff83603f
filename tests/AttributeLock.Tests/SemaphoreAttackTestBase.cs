using System.Collections.Concurrent;
using System.Diagnostics;
using AttributeLock.Engine.Session;
using Etcdserverpb;
using Google.Protobuf;
using Grpc.Core;
using Grpc.Core.Interceptors;

namespace AttributeLock.Tests;

/// <summary>What the semaphore's attack tests share: an instrument on the provider's calls and fake tickets in etcd.</summary>
public abstract class SemaphoreAttackTestBase : ProviderTestBase
{
    protected const string Prefix = "/attributelock-tests";

    /// <summary>Counts semaphore transactions by type (put, bounded read, count read); delays reads; kills or fails watch streams.</summary>
    internal sealed class Instrument : Interceptor
    {
        public int Puts, Reads, CountAlls, CountAllKeys, Failed;
        public long CountAllBytes;
        public readonly ConcurrentDictionary<StatusCode, int> Failures = new();
        public volatile int CountAllDelayMs = 0;
        /// <summary>Delays bounded reads (not puts, not countAll).</summary>
        public volatile int ReadDelayMs;
        public volatile TaskCompletionSource? CountAllStarted = null;
        /// <summary>While set, every new watch stream fails at its first read (a proxy or etcd that refuses watches).</summary>
        public volatile bool FailWatches;
        public int WatchesOpened;
        /// <summary>Watch streams that failed by themselves (not killed by the test), by status.</summary>
        public readonly ConcurrentDictionary<StatusCode, int> WatchFailures = new();
        public volatile bool TraceOpens;
        public readonly ConcurrentQueue<string> OpenTraces = new();
        private readonly ConcurrentDictionary<CancellationTokenSource, byte> _watches = new();

        public void Reset()
        {
            Puts = Reads = CountAlls = CountAllKeys = Failed = 0;
            CountAllBytes = 0;
            Failures.Clear();
        }

        public string Summary() =>
            $"puts {Puts}, bounded reads {Reads}, countAll reads {CountAlls} ({CountAllKeys} keys, {CountAllBytes / 1024} KiB), failed {Failed} [{string.Join(", ", Failures.Select(f => $"{f.Key}={f.Value}"))}]";

        /// <summary>Ends every watch stream open now with Unavailable.</summary>
        public int KillWatches()
        {
            int n = 0;
            foreach (CancellationTokenSource cts in _watches.Keys)
            {
                cts.Cancel();
                n++;
            }

            return n;
        }

        public override AsyncUnaryCall<TResponse> AsyncUnaryCall<TRequest, TResponse>(TRequest request, ClientInterceptorContext<TRequest, TResponse> context, AsyncUnaryCallContinuation<TRequest, TResponse> continuation)
        {
            if (request is not TxnRequest txn || txn.Success.Count == 0 || !IsSemaphore(txn))
            {
                return continuation(request, context);
            }

            bool countAll = txn.Success.Count == 3 && txn.Success[2].RequestRange is { KeysOnly: true };
            if (txn.Success[0].RequestPut is not null)
            {
                Interlocked.Increment(ref Puts);
            }
            else if (countAll)
            {
                Interlocked.Increment(ref CountAlls);
            }
            else
            {
                Interlocked.Increment(ref Reads);
            }

            int delay = countAll ? CountAllDelayMs : txn.Success[0].RequestPut is null ? ReadDelayMs : 0;
            TaskCompletionSource? started = countAll ? CountAllStarted : null;
            CancellationToken token = context.Options.CancellationToken;
            async Task<TResponse> Run()
            {
                try
                {
                    started?.TrySetResult();
                    if (delay > 0)
                    {
                        await Task.Delay(delay, token);
                    }

                    TResponse response = await continuation(request, context).ResponseAsync;
                    if (countAll && response is TxnResponse r)
                    {
                        Interlocked.Add(ref CountAllKeys, r.Responses[2].ResponseRange.Kvs.Count);
                        Interlocked.Add(ref CountAllBytes, r.Responses[2].ResponseRange.CalculateSize());
                    }

                    return response;
                }
                catch (RpcException ex)
                {
                    Interlocked.Increment(ref Failed);
                    Failures.AddOrUpdate(ex.StatusCode, 1, (_, n) => n + 1);
                    throw;
                }
            }

            return new AsyncUnaryCall<TResponse>(Run(), Task.FromResult(new Metadata()), () => Status.DefaultSuccess, () => new Metadata(), () => { });
        }

        private static bool IsSemaphore(TxnRequest txn) =>
            txn.Success.Any(op => (op.RequestPut?.Key ?? op.RequestRange?.Key)?.ToStringUtf8().Contains("/#sem/", StringComparison.Ordinal) == true);

        public override AsyncDuplexStreamingCall<TRequest, TResponse> AsyncDuplexStreamingCall<TRequest, TResponse>(ClientInterceptorContext<TRequest, TResponse> context, AsyncDuplexStreamingCallContinuation<TRequest, TResponse> continuation)
        {
            var call = continuation(context);
            if (typeof(TResponse) != typeof(WatchResponse))
            {
                return call;
            }

            var kill = new CancellationTokenSource();
            Interlocked.Increment(ref WatchesOpened);
            if (TraceOpens)
            {
                OpenTraces.Enqueue($"{DateTime.UtcNow:HH:mm:ss.fff} {new StackTrace(1, false).ToString().Split('\n').FirstOrDefault(l => l.Contains("AttributeLock.Engine"))?.Trim()}");
            }
            if (FailWatches)
            {
                kill.Cancel();
            }

            _watches[kill] = 0;
            return new AsyncDuplexStreamingCall<TRequest, TResponse>(
                call.RequestStream, new KillableReader<TResponse>(call.ResponseStream, kill, c => WatchFailures.AddOrUpdate(c, 1, (_, n) => n + 1)), call.ResponseHeadersAsync, call.GetStatus, call.GetTrailers,
                () =>
                {
                    _watches.TryRemove(kill, out _);
                    call.Dispose();
                });
        }

        private sealed class KillableReader<T>(IAsyncStreamReader<T> inner, CancellationTokenSource kill, Action<StatusCode> failed) : IAsyncStreamReader<T>
        {
            public T Current => inner.Current;

            public async Task<bool> MoveNext(CancellationToken cancellationToken)
            {
                if (kill.IsCancellationRequested)
                {
                    throw new RpcException(new Status(StatusCode.Unavailable, "killed by the test"));
                }

                Task<bool> next = inner.MoveNext(cancellationToken);
                Task killed = Task.Delay(Timeout.Infinite, kill.Token);
                if (await Task.WhenAny(next, killed) == next)
                {
                    try
                    {
                        return await next;
                    }
                    catch (RpcException ex)
                    {
                        failed(ex.StatusCode);
                        throw;
                    }
                }

                _ = next.ContinueWith(t => _ = t.Exception, TaskScheduler.Default);
                throw new RpcException(new Status(StatusCode.Unavailable, "killed by the test"));
            }
        }
    }

    private protected static Func<EngineSettings, EngineSettings> Recheck(TimeSpan interval) => s => s with { WatchRecheckInterval = interval };


    protected async Task PutFakeTicketsAsync(string fullKey, int maxCount, int count)
    {
        ByteString value = ByteString.CopyFromUtf8($"maxCount={maxCount};fake-holder");
        for (int i = 0; i < count; i += 100)
        {
            var txn = new TxnRequest();
            for (int j = i; j < Math.Min(count, i + 100); j++)
            {
                txn.Success.Add(new RequestOp { RequestPut = new PutRequest { Key = ByteString.CopyFromUtf8($"{fullKey}/#sem/fake-{j:D5}"), Value = value } });
            }

            await Client.TransactionAsync(txn);
        }
    }


    protected static void InterlockedMax(ref int target, int value)
    {
        int seen;
        while (value > (seen = Volatile.Read(ref target)) && Interlocked.CompareExchange(ref target, value, seen) != seen)
        {
        }
    }
}
