using BenchmarkDotNet.Attributes;
using Google.Protobuf;

namespace AttributeLock.Benchmarks;

/// <summary>
/// One locked call at a time, no contention: what a call costs. Runs in process (see <see cref="Program"/>), against
/// the etcd in <see cref="BenchEnvironment.Endpoint"/>. Each benchmark has its own key.
/// </summary>
[MemoryDiagnoser]
public class LockCallBenchmarks
{
    private static readonly ByteString s_putKey = ByteString.CopyFromUtf8("/attributelock-bench/put");
    private static readonly ByteString s_putValue = ByteString.CopyFromUtf8("value");
    private static readonly ByteString s_handKey = ByteString.CopyFromUtf8("/attributelock-bench/hand-written");
    private static readonly ByteString s_rawKey = ByteString.CopyFromUtf8("/attributelock-bench/raw");
    private static readonly ByteString s_preKey = ByteString.CopyFromUtf8("/attributelock-bench/pre-granted");
    private static readonly ByteString s_v3Name = ByteString.CopyFromUtf8("/attributelock-bench/v3lock");

    private HandWritten _hand = null!;
    private PreGrantedLeases _preGranted = null!;
    private EtcdLockProvider _provider = null!;
    private GeneratedLocks _generated = null!;
    private EtcdLockProvider _providerNoSpares = null!;
    private GeneratedLocks _generatedNoSpares = null!;

    [GlobalSetup]
    public void Setup()
    {
        string endpoint = BenchEnvironment.Endpoint;
        _hand = new HandWritten(endpoint);
        _preGranted = new PreGrantedLeases(_hand);
        _provider = new EtcdLockProvider(new EtcdLockProviderOptions { Endpoints = { endpoint }, KeyPrefix = "/attributelock-bench" });
        _generated = new GeneratedLocks(_provider);
        _providerNoSpares = new EtcdLockProvider(new EtcdLockProviderOptions { Endpoints = { endpoint }, KeyPrefix = "/attributelock-bench/no-spares", SpareLeases = false });
        _generatedNoSpares = new GeneratedLocks(_providerNoSpares);
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _preGranted.DisposeAsync().AsTask().GetAwaiter().GetResult();
        _provider.Dispose();
        _providerNoSpares.Dispose();
        _hand.Dispose();
    }

    /// <summary>(6) The floor: one plain Put (one consensus write).</summary>
    [Benchmark(Description = "(6) etcd Put (floor)")]
    public Task Put() => _hand.PutAsync(s_putKey, s_putValue);

    /// <summary>(1) Hand-written dotnet-etcd: LeaseGrant + Version==0 Txn (Else Get) + LeaseRevoke, empty body.</summary>
    [Benchmark(Baseline = true, Description = "(1) hand-written grant+txn+revoke")]
    public Task HandWritten() => _hand.LockedCallAsync(s_handKey);

    /// <summary>(1) through the raw gRPC clients with a per-call deadline, as the provider sends them.</summary>
    [Benchmark(Description = "(1r) same, raw gRPC + deadline")]
    public Task HandWrittenRaw() => _hand.LockedCallRawAsync(s_rawKey);

    /// <summary>(2) The generated [EtcdLock] wrapper around an empty body.</summary>
    [Benchmark(Description = "(2) generated [EtcdLock] wrapper")]
    public Task Generated() => _generated.EmptyAsync(CancellationToken.None);

    /// <summary>(2) on a provider with <c>SpareLeases = false</c>: the lease is granted on the call's critical path.</summary>
    [Benchmark(Description = "(2n) same, SpareLeases = false")]
    public Task GeneratedNoSpares() => _generatedNoSpares.EmptyAsync(CancellationToken.None);

    /// <summary>(3) etcd's v3lock: LeaseGrant + Lock + Unlock + LeaseRevoke.</summary>
    [Benchmark(Description = "(3) etcd v3lock Lock/Unlock")]
    public Task V3Lock() => _hand.V3LockCallAsync(s_v3Name);

    /// <summary>Prototype: (1) with the lease granted ahead of time (Txn + LeaseRevoke on the critical path).</summary>
    [Benchmark(Description = "(P) hand-written, lease pre-granted")]
    public Task PreGranted() => _preGranted.LockedCallAsync(s_preKey);
}
