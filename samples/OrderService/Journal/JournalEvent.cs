using System.Text.Json;
using System.Text.Json.Serialization;

namespace OrderService.Journal;

/// <summary>
/// One entry of the demo's audit trail, stored as JSON under <c>&lt;data root&gt;/journal/&lt;worker&gt;/&lt;seq&gt;</c>.
/// Its etcd mod revision (not stored, read back) orders it against every other write of the run.
/// </summary>
public sealed record JournalEvent
{
    /// <summary>A worker started (its process id in <see cref="Pid"/>).</summary>
    public const string Ready = "ready";

    /// <summary>First thing a holder does inside the lock.</summary>
    public const string Enter = "enter";

    /// <summary>Written in the same etcd transaction as the holder's data write, its last act inside the lock.</summary>
    public const string Exit = "exit";

    /// <summary>A call has been waiting for a busy lock longer than the reporting threshold.</summary>
    public const string Waiting = "waiting";

    /// <summary>The settlement job found its lock busy and skipped its turn.</summary>
    public const string Skip = "skip";

    /// <summary>
    /// etcd refused a holder's guarded write: its lock key no longer had the hold's fencing token as create revision.
    /// Nothing of that write (nor its exit entry) was applied. <see cref="CurrentToken"/> and <see cref="Holder"/> name
    /// the key's holder at that moment.
    /// </summary>
    public const string Refused = "refused";

    /// <summary>
    /// A worker became the settlement leader (<c>[EtcdLeader]</c>): <see cref="Key"/> is its candidate key,
    /// <see cref="Token"/> the leadership's fencing token (the key's create revision).
    /// </summary>
    public const string Lead = "lead";

    /// <summary>
    /// The leader's settlement: written in the same etcd transaction as the settlement counter (<see cref="Detail"/>:
    /// the counter's new value), guarded by the leadership.
    /// </summary>
    public const string Settle = "settle";

    /// <summary>One of the constants of this type.</summary>
    public required string Kind { get; init; }

    /// <summary>The worker's name, for example <c>w1</c>.</summary>
    public required string Worker { get; init; }

    /// <summary>The lock key without the provider's prefix, for example <c>/orders/3</c>.</summary>
    public string Key { get; init; } = "";

    /// <summary>The hold's fencing token (for <see cref="Waiting"/>/<see cref="Skip"/>: the current holder's).</summary>
    public long Token { get; init; }

    /// <summary>The hold's lease id.</summary>
    public long Lease { get; init; }

    /// <summary>The lease's granted TTL in seconds.</summary>
    public long TtlSeconds { get; init; }

    /// <summary>The worker's process id (on <see cref="Ready"/>).</summary>
    public int Pid { get; init; }

    /// <summary>How long the call waited for the lock, in milliseconds.</summary>
    public double WaitedMs { get; init; }

    /// <summary>How long the hold lasted up to its exit write, in milliseconds.</summary>
    public double HeldMs { get; init; }

    /// <summary>What the holder did, for example <c>payments 3→4</c>.</summary>
    public string Detail { get; init; } = "";

    /// <summary>What the holder read before its enter entry, for example <c>payments 4</c> (<see cref="Enter"/>).</summary>
    public string Read { get; init; } = "";

    /// <summary>The lock key's create revision when a write was <see cref="Refused"/>; 0 when the key did not exist.</summary>
    public long CurrentToken { get; init; }

    /// <summary>
    /// The value of the lock key (who holds it) for <see cref="Waiting"/>/<see cref="Skip"/>/<see cref="Refused"/>. For
    /// a <see cref="Waiting"/> on a semaphore or a reader-writer lock: every ticket below its key at that moment, oldest
    /// first, as <c>/#sem/&lt;lease&gt; #&lt;create revision&gt; &lt;value&gt;</c> joined with <c> | </c>.
    /// </summary>
    public string Holder { get; init; } = "";

    /// <summary>Wall-clock time of the event, Unix milliseconds (for display only; checks use revisions).</summary>
    public long At { get; init; }

    /// <summary>The etcd mod revision of the entry; set when read back.</summary>
    [JsonIgnore]
    public long Revision { get; init; }

    /// <summary>The JSON text stored in etcd.</summary>
    /// <returns>The JSON.</returns>
    public string ToJson() => JsonSerializer.Serialize(this, JournalJson.Default.JournalEvent);

    /// <summary>Reads an entry stored by <see cref="ToJson"/>.</summary>
    /// <param name="json">The stored text.</param>
    /// <param name="revision">The key's mod revision.</param>
    /// <returns>The entry.</returns>
    public static JournalEvent Parse(string json, long revision) =>
        (JsonSerializer.Deserialize(json, JournalJson.Default.JournalEvent) ?? throw new FormatException("An empty journal entry.")) with { Revision = revision };
}

/// <summary>
/// The journal's JSON contract, source-generated (no reflection: the sample publishes with Native AOT): web defaults
/// (camelCase), default values left out.
/// </summary>
[JsonSourceGenerationOptions(JsonSerializerDefaults.Web, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingDefault)]
[JsonSerializable(typeof(JournalEvent))]
public sealed partial class JournalJson : JsonSerializerContext;
