namespace AttributeLock.Generators;

/// <summary>
/// Names of the generator's incremental steps, for tests that check the steps are cached
/// (<see cref="Microsoft.CodeAnalysis.GeneratorRunResult.TrackedSteps"/>).
/// </summary>
public static class TrackingNames
{
    /// <summary>
    /// The parse of one method with a coordination attribute into a model plus diagnostics (one step per attribute:
    /// <c>[EtcdLock]</c>, <c>[EtcdSemaphore]</c>, <c>[EtcdReadLock]</c>, <c>[EtcdWriteLock]</c>, <c>[EtcdLeader]</c>).
    /// </summary>
    public const string Parse = nameof(Parse);

    /// <summary>The diagnostics of all parsed methods.</summary>
    public const string Diagnostics = nameof(Diagnostics);

    /// <summary>The valid models, one per method to implement.</summary>
    public const string Models = nameof(Models);

    /// <summary>The unique file (hint) names assigned to all models.</summary>
    public const string HintNames = nameof(HintNames);

    /// <summary>Each model paired with its file name, ready to emit.</summary>
    public const string Files = nameof(Files);

    /// <summary>The check across methods for key templates shared by a plain and a reader-writer lock (AL0025).</summary>
    public const string KeyTemplates = nameof(KeyTemplates);
}
