using System.Globalization;
using System.Text;
using AttributeLock.Engine.Lock;
using Etcdserverpb;
using Google.Protobuf;

namespace AttributeLock.Engine.Queue;

/// <summary>Which queue primitive an acquire is for; it decides the ticket's place and what blocks it.</summary>
internal enum QueueKind : byte
{
    /// <summary>A semaphore ticket: admitted while fewer than MaxCount older tickets exist.</summary>
    Semaphore,

    /// <summary>A reader: admitted while no older writer exists.</summary>
    Read,

    /// <summary>A writer: admitted while no older reader or writer exists.</summary>
    Write,

    /// <summary>An election candidate: leads while no older candidate exists.</summary>
    Leader,
}

/// <summary>
/// One acquire of a queue primitive: every caller puts a ticket of its own, <c>{key}/{marker}{lease id}</c>, on its
/// own lease, and the tickets' create revisions order the callers across processes (first come, first served).
/// </summary>
/// <remarks>
/// Layout under the primitive's full key: semaphore tickets <c>/#sem/</c>, readers <c>/#rw/r/</c>, writers
/// <c>/#rw/w/</c>, candidates <c>/#leader/</c>. What blocks a ticket is the range <see cref="BlockersFrom"/> ..
/// <see cref="BlockersEnd"/> (its older keys only): all tickets of the semaphore, the writers for a reader, readers and
/// writers for a writer, all candidates for a candidate.
/// </remarks>
internal sealed class QueueRequest
{
    public QueueRequest(AcquireRequest request, QueueKind kind, int maxCount, ByteString value)
    {
        Request = request;
        Kind = kind;
        MaxCount = maxCount;
        Value = value;
        TicketPrefix = request.FullKey + kind switch
        {
            QueueKind.Semaphore => "/#sem/",
            QueueKind.Read => "/#rw/r/",
            QueueKind.Write => "/#rw/w/",
            _ => "/#leader/",
        };
        string blockers = kind switch
        {
            QueueKind.Read => request.FullKey + "/#rw/w/",
            QueueKind.Write => request.FullKey + "/#rw/",
            _ => TicketPrefix,
        };
        BlockersFrom = ByteString.CopyFromUtf8(blockers);
        FamilyKey = kind is QueueKind.Read or QueueKind.Write ? request.FullKey + "/#rw/" : TicketPrefix;
        BlockersEnd = PrefixEnd(BlockersFrom);
    }

    public AcquireRequest Request { get; }

    public QueueKind Kind { get; }

    /// <summary>The semaphore's MaxCount; 0 for the other kinds.</summary>
    public int MaxCount { get; }

    /// <summary>What the ticket's key holds: the holder id (and, for a semaphore, its MaxCount).</summary>
    public ByteString Value { get; }

    public string TicketPrefix { get; }

    /// <summary>The keys that exclude each other in this process until released (<see cref="LocalPlaces"/>).</summary>
    public string FamilyKey { get; }

    public ByteString BlockersFrom { get; }

    public ByteString BlockersEnd { get; }

    /// <summary>
    /// The ticket's key for a slot of this process (<paramref name="session"/>: a short token unique to the provider):
    /// unique among live tickets, and the same keys are used again (see <see cref="LocalPlaces"/>).
    /// </summary>
    public string TicketKey(string session, int slot) => TicketPrefix + session + "-" + slot.ToString("x", CultureInfo.InvariantCulture);

    /// <summary>How many older tickets may exist for this one to be admitted.</summary>
    public int Admits => Kind == QueueKind.Semaphore ? MaxCount : 1;

    /// <summary>The end of the range of keys that start with <paramref name="prefix"/> (etcd's prefix range).</summary>
    public static ByteString PrefixEnd(ByteString prefix)
    {
        byte[] end = prefix.ToByteArray();
        for (int i = end.Length - 1; i >= 0; i--)
        {
            if (end[i] < 0xff)
            {
                end[i]++;
                return UnsafeByteOperations.UnsafeWrap(end.AsMemory(0, i + 1));
            }
        }

        return ByteString.CopyFrom(0); // no end: to the end of the keyspace
    }

    /// <summary>A semaphore ticket's value: <c>maxCount=N;holder</c>, so that callers who disagree on N find out.</summary>
    public static ByteString SemaphoreValue(int maxCount, string holderId) =>
        ByteString.CopyFromUtf8("maxCount=" + maxCount.ToString(CultureInfo.InvariantCulture) + ";" + holderId);

    /// <summary>The MaxCount a semaphore ticket's value carries; null when the value is not a ticket's.</summary>
    public static int? MaxCountOf(ByteString value)
    {
        string text = value.ToStringUtf8();
        int semicolon = text.IndexOf(';', StringComparison.Ordinal);
        return text.StartsWith("maxCount=", StringComparison.Ordinal) && semicolon > 9
            && int.TryParse(text.AsSpan(9, semicolon - 9), NumberStyles.None, CultureInfo.InvariantCulture, out int n) ? n : null;
    }

    /// <summary>The holder a ticket's value names (a semaphore's without its MaxCount).</summary>
    public static string HolderOf(ByteString value)
    {
        string text = value.ToStringUtf8();
        int semicolon = text.IndexOf(';', StringComparison.Ordinal);
        return text.StartsWith("maxCount=", StringComparison.Ordinal) && semicolon > 0 ? text[(semicolon + 1)..] : text;
    }

    /// <summary>
    /// The blockers older than a ticket of create revision <paramref name="ticketRevision"/>: for a semaphore the
    /// oldest MaxCount of them (counted, their MaxCount checked); otherwise the youngest older one (the one to wait on).
    /// </summary>
    public RangeRequest OlderBlockers(long ticketRevision) => new()
    {
        Key = BlockersFrom,
        RangeEnd = BlockersEnd,
        MaxCreateRevision = ticketRevision - 1,
        SortTarget = RangeRequest.Types.SortTarget.Create,
        SortOrder = Kind == QueueKind.Semaphore ? RangeRequest.Types.SortOrder.Ascend : RangeRequest.Types.SortOrder.Descend,
        // etcd counts a range before it applies max_create_revision (RangeResponse.Count is the whole range's), so a
        // semaphore counts the older tickets it gets: at most MaxCount of them, the oldest (fewer means admitted, and
        // then every older ticket was returned and its MaxCount checked; `More` tells whether there are others). The
        // others need only the youngest older blocker.
        Limit = Kind == QueueKind.Semaphore ? MaxCount : 1,
    };
}
