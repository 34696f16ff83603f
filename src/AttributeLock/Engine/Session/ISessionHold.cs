namespace AttributeLock.Engine.Session;

/// <summary>
/// A hold of any primitive as its session sees it: the owner of its lease, registered while open so that the
/// provider's dispose can tell it the session ended and release it.
/// </summary>
internal interface ISessionHold : ILeaseOwner
{
    /// <summary>The hold was registered: runs under the session's lock, once, before anyone else can see the hold.</summary>
    void OnRegistered();

    /// <summary>Declares the hold lost (once); its signal runs on a thread of its own.</summary>
    void MarkLost(string reason);

    /// <summary>Releases the hold. Never throws.</summary>
    ValueTask ReleaseAsync();
}
