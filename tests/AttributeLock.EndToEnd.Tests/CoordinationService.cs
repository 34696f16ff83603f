using Microsoft.Extensions.Hosting;

namespace AttributeLock.EndToEnd.Tests;

/// <summary>Generated semaphore and reader-writer wrappers, each running a callback under its hold.</summary>
public partial class CoordinationService(IEtcdLockProvider locks)
{
    [EtcdSemaphore("/e2e-sem/<name>", MaxCount = 2, Ttl = 10)]
    public partial Task TicketAsync(string name, Func<Task> body, CancellationToken ct);

    private Task TicketAsyncCore(string name, Func<Task> body, CancellationToken ct) => body();

    [EtcdReadLock("/e2e-rw/<name>", Ttl = 10)]
    public partial Task ReadAsync(string name, Func<Task> body, CancellationToken ct);

    private Task ReadAsyncCore(string name, Func<Task> body, CancellationToken ct) => body();

    [EtcdWriteLock("/e2e-rw/<name>", Ttl = 10)]
    public partial Task WriteAsync(string name, Func<Task> body, CancellationToken ct);

    private Task WriteAsyncCore(string name, Func<Task> body, CancellationToken ct) => body();
}

/// <summary>A hosted service whose job runs only on the leader: what users write.</summary>
public sealed partial class LeaderJob(IEtcdLockProvider locks, LeaderJob.Journal journal) : BackgroundService
{
    /// <summary>What the leaders did, shared by the hosts of one test.</summary>
    public sealed class Journal
    {
        public readonly List<(string Host, long Token)> Terms = new();
        public int Inside;
        public int MostInside;
    }

    public string Host { get; init; } = "";

    public string Election { get; init; } = "";

    [EtcdLeader("/e2e-leader/<election>", Ttl = 5)]
    private partial Task RunAsync(string election, CancellationToken stoppingToken);

    private async Task RunAsyncCore(string election, CancellationToken leading)
    {
        EtcdLockHandle leadership = EtcdLockContext.Current!;
        lock (journal)
        {
            journal.Terms.Add((Host, leadership.FencingToken));
            journal.MostInside = Math.Max(journal.MostInside, ++journal.Inside);
        }

        try
        {
            await Task.Delay(Timeout.Infinite, leading);
        }
        finally
        {
            lock (journal)
            {
                journal.Inside--;
            }
        }
    }

    protected override Task ExecuteAsync(CancellationToken stoppingToken) => RunAsync(Election, stoppingToken);
}
