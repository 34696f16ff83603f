using Google.Protobuf;

namespace AttributeLock.Testing;

/// <summary>What a ticket of a <see cref="TicketQueue"/> asks for.</summary>
internal enum TicketKind
{
    /// <summary>One of the semaphore's places: admitted when fewer than its MaxCount tickets are older.</summary>
    Semaphore,

    /// <summary>A reader: admitted when no older writer exists (held or waiting).</summary>
    Reader,

    /// <summary>A writer: admitted when no older ticket exists at all.</summary>
    Writer,

    /// <summary>A candidate of an election: leads when no older candidate exists.</summary>
    Candidate,
}

/// <summary>
/// The tickets of one semaphore, reader-writer lock or election of the in-memory provider, oldest first: the keys the
/// engine puts under the primitive's key, ordered by create revision. Changed only under the provider's lock.
/// </summary>
internal sealed class TicketQueue(string fullKey, string ticketPrefix)
{
    /// <summary>The primitive's full key (the provider's prefix included), what timeouts and acquisitions name.</summary>
    public string FullKey { get; } = fullKey;

    /// <summary>What every ticket key of this queue starts with, e.g. <c>{FullKey}/#sem/</c>.</summary>
    public string TicketPrefix { get; } = ticketPrefix;

    /// <summary>The tickets in the order they were put (their create revisions increase).</summary>
    public List<InMemoryTicket> Tickets { get; } = new();

    /// <summary>Completed, and replaced, at every change of the queue: what leader observers wait on.</summary>
    public TaskCompletionSource Changed { get; set; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>
    /// The oldest ticket that keeps <paramref name="ticket"/> out, or <c>null</c> when it is admitted (first come, first
    /// served: only older tickets count, so a ticket once admitted stays admitted).
    /// </summary>
    public InMemoryTicket? Blocker(InMemoryTicket ticket)
    {
        int older = Tickets.IndexOf(ticket);
        switch (ticket.Kind)
        {
            case TicketKind.Semaphore:
                return older < ticket.MaxCount ? null : Tickets[0];
            case TicketKind.Reader:
                for (int i = 0; i < older; i++)
                {
                    if (Tickets[i].Kind == TicketKind.Writer)
                    {
                        return Tickets[i];
                    }
                }

                return null;
            default:
                return older == 0 ? null : Tickets[0];
        }
    }
}

/// <summary>One key put under a semaphore, reader-writer lock or election, by this provider or "elsewhere".</summary>
internal sealed class InMemoryTicket(TicketQueue queue, TicketKind kind, string key, ByteString keyBytes, long createRevision, long leaseId, int ttlSeconds, int maxCount, string holder, bool elsewhere)
{
    public TicketQueue Queue { get; } = queue;

    public TicketKind Kind { get; } = kind;

    /// <summary>The ticket's full key, e.g. <c>{prefix}{key}/#sem/{leaseId:x16}</c>.</summary>
    public string Key { get; } = key;

    public ByteString KeyBytes { get; } = keyBytes;

    /// <summary>The revision that put the ticket: the fencing token of its hold.</summary>
    public long CreateRevision { get; } = createRevision;

    public long LeaseId { get; } = leaseId;

    public int TtlSeconds { get; } = ttlSeconds;

    /// <summary>The semaphore's MaxCount the ticket was taken with; 0 for the other kinds.</summary>
    public int MaxCount { get; } = maxCount;

    /// <summary>Who holds or waits with it: the provider's holder id, or the name given to a hold elsewhere.</summary>
    public string Holder { get; } = holder;

    /// <summary>Put by a test as another process would (no local waiter, no hold).</summary>
    public bool IsElsewhere { get; } = elsewhere;

    /// <summary>Still in <see cref="Queue"/>: neither released, nor lost, nor given up.</summary>
    public bool IsQueued { get; set; } = true;

    /// <summary>Admitted: it holds (a place, a read or write, the leadership).</summary>
    public bool IsAdmitted { get; set; }

    /// <summary>The hold of a local ticket, created when it is admitted.</summary>
    public InMemoryHold? Hold { get; set; }

    /// <summary>The local waiter's turn: completed with <see cref="Hold"/> when admitted.</summary>
    public TaskCompletionSource<InMemoryHold>? Turn { get; set; }
}
