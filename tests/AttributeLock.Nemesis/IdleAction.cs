using System.Text.Json;
using System.Text.Json.Serialization;

namespace AttributeLock.Nemesis;

/// <summary>
/// One nemesis action on an idle hold's key behind its holder's back: <c>delete</c>, <c>overwrite</c> (a put under a
/// foreign lease: same create revision, another lease) or <c>recreate</c> (delete, then a new key under a foreign
/// lease). Each transaction also puts a marker key, so etcd's history shows the action at its own revision.
/// </summary>
internal sealed class IdleAction
{
    public int FaultSeq { get; set; }
    public int Seq { get; set; }
    public string Kind { get; set; } = "";
    public string Key { get; set; } = "";
    /// <summary>The hold acted on (its create revision and lease, as read before the action).</summary>
    public long Token { get; set; }
    public long Lease { get; set; }
    public long ForeignLease { get; set; }
    public long StartWall { get; set; }
    /// <summary>When the (first) transaction's answer came, or when it was given up.</summary>
    public long EndWall { get; set; }
    /// <summary>The revision of the first transaction (the one that ends the hold); 0 unknown.</summary>
    public long Rev { get; set; }
    /// <summary>applied / skipped (the key had changed meanwhile) / error.</summary>
    public string Outcome { get; set; } = "";
    public string? Error { get; set; }
}
