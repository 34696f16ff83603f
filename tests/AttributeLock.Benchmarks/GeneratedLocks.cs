namespace AttributeLock.Benchmarks;

/// <summary>
/// Real <see cref="EtcdLockAttribute"/> services, implemented by the AttributeLock generator (it runs as an analyzer
/// of this project): what a user of the library writes.
/// </summary>
public sealed partial class GeneratedLocks(IEtcdLockProvider locks)
{
    /// <summary>Records hand-offs of <see cref="HandOffAsync"/>; set before a contention run.</summary>
    public HandOffRecorder? Recorder { get; set; }

    /// <summary>Acquisitions made through <see cref="HerdAsync"/> (counted inside the lock).</summary>
    public long HerdAcquisitions;

    /// <summary>Benchmark (2): a locked call with an empty body.</summary>
    [EtcdLock("/bench/wrapped", Ttl = 10)]
    public partial Task EmptyAsync(CancellationToken ct);

    private Task EmptyAsyncCore(CancellationToken ct) => Task.CompletedTask;

    /// <summary>Contention and no-contention runs: the body only records when it got the lock and when it let go.</summary>
    [EtcdLock("/bench/keys/<key>", Ttl = 10)]
    public partial Task HandOffAsync(int key, CancellationToken ct);

    private Task HandOffAsyncCore(int key, CancellationToken ct)
    {
        HandOffRecorder? recorder = Recorder;
        recorder?.Acquired();
        recorder?.Released();
        return Task.CompletedTask;
    }

    /// <summary>Thundering herd: every waiter of both processes calls this.</summary>
    [EtcdLock("/bench/herd", Ttl = 10)]
    public partial Task HerdAsync(CancellationToken ct);

    private Task HerdAsyncCore(CancellationToken ct)
    {
        Interlocked.Increment(ref HerdAcquisitions);
        return Task.CompletedTask;
    }

    /// <summary>Benchmark (Q1): a semaphore ticket with an empty body (uncontended: MaxCount 4, one caller).</summary>
    [EtcdSemaphore("/bench/semaphore", MaxCount = 4, Ttl = 10)]
    public partial Task TicketAsync(CancellationToken ct);

    private Task TicketAsyncCore(CancellationToken ct) => Task.CompletedTask;

    /// <summary>Benchmark (Q2): a read hold with an empty body.</summary>
    [EtcdReadLock("/bench/catalog", Ttl = 10)]
    public partial Task ReadAsync(CancellationToken ct);

    private Task ReadAsyncCore(CancellationToken ct) => Task.CompletedTask;

    /// <summary>Benchmark (Q3): a write hold with an empty body.</summary>
    [EtcdWriteLock("/bench/catalog", Ttl = 10)]
    public partial Task WriteAsync(CancellationToken ct);

    private Task WriteAsyncCore(CancellationToken ct) => Task.CompletedTask;
}
