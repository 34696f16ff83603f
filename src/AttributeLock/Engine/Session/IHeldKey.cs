using Google.Protobuf;

namespace AttributeLock.Engine.Session;

/// <summary>
/// A key that a hold of this session created and holds, as the key watch (<see cref="KeyWatcher"/>) and guarded writes
/// (<see cref="GuardedWrites"/>) see it: what they check the key against in etcd (its create revision and its lease),
/// and what they tell the hold when the key is no longer ours.
/// </summary>
internal interface IHeldKey
{
    /// <summary>The full key (prefix included).</summary>
    string Key { get; }

    /// <summary><see cref="Key"/> in UTF-8.</summary>
    ByteString KeyBytes { get; }

    /// <summary>The key's create revision when the hold created it.</summary>
    long FencingToken { get; }

    /// <summary>The lease the hold attached the key to.</summary>
    long LeaseId { get; }

    /// <summary>Where the hold is in its life (the deadline checked first).</summary>
    HoldState State { get; }

    /// <summary>The id of the key's watch on the session's watch stream; 0 while not watched. The watcher's alone.</summary>
    long WatchId { get; set; }

    /// <summary>Declares the hold lost (once, and only while held); the signal runs on a thread of its own.</summary>
    void MarkLost(string reason);

    /// <summary>
    /// Another writer put the key while it still had our create revision: the release deletes it if it is still that
    /// incarnation (revoking our lease may not).
    /// </summary>
    void MarkOverwrittenInPlace();
}
