using System.Diagnostics.Tracing;
using Google.Protobuf;

namespace AttributeLock.Benchmarks;

/// <summary>
/// Where the allocations of a call go: the runtime's allocation-tick events (one sample per ~100 KB allocated,
/// naming the type that crossed the mark) during a fixed number of calls, hand-written (1) against the generated
/// wrapper (2). A diagnosis aid for the "≤ 1 KB more per call" target, not a benchmark of its own.
/// </summary>
public static class AllocationProfile
{
    public sealed record Profile(string Name, int Calls, long AllocatedBytes, IReadOnlyDictionary<string, long> SampledBytesByType);

    public static async Task<IReadOnlyList<Profile>> RunAsync(string endpoint, int calls)
    {
        using var hand = new HandWritten(endpoint);
        await using var provider = new EtcdLockProvider(new EtcdLockProviderOptions { Endpoints = { endpoint }, KeyPrefix = "/attributelock-bench" });
        var locks = new GeneratedLocks(provider);
        ByteString key = ByteString.CopyFromUtf8("/attributelock-bench/alloc-hand");
        var results = new List<Profile>
        {
            await ProfileAsync("(1) hand-written", calls, () => hand.LockedCallAsync(key)),
            await ProfileAsync("(2) generated wrapper", calls, () => locks.EmptyAsync(CancellationToken.None)),
        };
        return results;
    }

    private static async Task<Profile> ProfileAsync(string name, int calls, Func<Task> call)
    {
        for (int i = 0; i < 200; i++)
        {
            await call();
        }

        using var listener = new AllocationListener();
        long before = GC.GetTotalAllocatedBytes(precise: true);
        for (int i = 0; i < calls; i++)
        {
            await call();
        }

        long allocated = GC.GetTotalAllocatedBytes(precise: true) - before;
        return new Profile(name, calls, allocated, listener.Snapshot());
    }

    private sealed class AllocationListener : EventListener
    {
        private readonly Dictionary<string, long> _bytes = new(StringComparer.Ordinal);

        protected override void OnEventSourceCreated(EventSource source)
        {
            if (source.Name == "Microsoft-Windows-DotNETRuntime")
            {
                EnableEvents(source, EventLevel.Verbose, (EventKeywords)0x1); // GC keyword: GCAllocationTick
            }
        }

        protected override void OnEventWritten(EventWrittenEventArgs e)
        {
            if (e.EventName is null || !e.EventName.StartsWith("GCAllocationTick", StringComparison.Ordinal) || e.PayloadNames is null)
            {
                return;
            }

            int typeIndex = e.PayloadNames.IndexOf("TypeName");
            int amountIndex = e.PayloadNames.IndexOf("AllocationAmount64");
            if (typeIndex < 0 || amountIndex < 0 || e.Payload is null)
            {
                return;
            }

            string type = e.Payload[typeIndex] as string ?? "?";
            long amount = Convert.ToInt64(e.Payload[amountIndex], System.Globalization.CultureInfo.InvariantCulture);
            lock (_bytes)
            {
                _bytes[type] = _bytes.GetValueOrDefault(type) + amount;
            }
        }

        public IReadOnlyDictionary<string, long> Snapshot()
        {
            lock (_bytes)
            {
                return new Dictionary<string, long>(_bytes, StringComparer.Ordinal);
            }
        }
    }
}
