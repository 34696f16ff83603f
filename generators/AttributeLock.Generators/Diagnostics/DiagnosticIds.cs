namespace AttributeLock.Generators.Diagnostics;

/// <summary>
/// The ids of all AttributeLock diagnostics: the contract between the generator, the analyzer, the code fixes
/// and <c>docs/diagnostics.md</c> (one section per id).
/// </summary>
public static class DiagnosticIds
{
    /// <summary>AL0001: the key template is empty.</summary>
    public const string EmptyTemplate = "AL0001";

    /// <summary>AL0002: a placeholder names no parameter.</summary>
    public const string UnknownPlaceholder = "AL0002";

    /// <summary>AL0003: a placeholder is unterminated, empty or not a name.</summary>
    public const string MalformedPlaceholder = "AL0003";

    /// <summary>AL0004: a member of a placeholder's path does not exist.</summary>
    public const string MemberNotFound = "AL0004";

    /// <summary>AL0005: a placeholder was written with braces.</summary>
    public const string BracePlaceholder = "AL0005";

    /// <summary>AL0006: a placeholder's type has no culture-invariant string form.</summary>
    public const string PlaceholderType = "AL0006";

    /// <summary>AL0007: the key template does not start with '/'.</summary>
    public const string TemplateWithoutSlash = "AL0007";

    /// <summary>AL0008: Ttl set explicitly below 1.</summary>
    public const string InvalidTtl = "AL0008";

    /// <summary>AL0009: WaitTimeoutMilliseconds below -1.</summary>
    public const string InvalidWaitTimeout = "AL0009";

    /// <summary>AL0010: the method is not a partial declaration without a body.</summary>
    public const string MethodNotPartial = "AL0010";

    /// <summary>AL0011: a containing type is not partial.</summary>
    public const string TypeNotPartial = "AL0011";

    /// <summary>AL0012: the Core method is missing.</summary>
    public const string CoreMissing = "AL0012";

    /// <summary>AL0013: the Core method does not match.</summary>
    public const string CoreMismatch = "AL0013";

    /// <summary>AL0014: no lock provider member.</summary>
    public const string ProviderMissing = "AL0014";

    /// <summary>AL0015: several lock provider members.</summary>
    public const string ProviderAmbiguous = "AL0015";

    /// <summary>AL0016: the return type is not Task, Task&lt;T&gt;, ValueTask or ValueTask&lt;T&gt;.</summary>
    public const string UnsupportedReturnType = "AL0016";

    /// <summary>AL0017: a parameter cannot be passed through an async wrapper.</summary>
    public const string UnsupportedParameter = "AL0017";

    /// <summary>AL0018: a Core method is called or referenced directly, bypassing the lock.</summary>
    public const string CoreCalledDirectly = "AL0018";

    /// <summary>AL0019: the method takes no CancellationToken.</summary>
    public const string MissingCancellationToken = "AL0019";

    /// <summary>AL0020: HoldAtLeastMilliseconds is negative.</summary>
    public const string InvalidHoldAtLeast = "AL0020";

    /// <summary>AL0021: an [EtcdSemaphore] has no MaxCount, or one below 1.</summary>
    public const string InvalidMaxCount = "AL0021";

    /// <summary>AL0022: an [EtcdLeader] method does not return Task.</summary>
    public const string LeaderReturnType = "AL0022";

    /// <summary>AL0023: an [EtcdLeader] method has no CancellationToken parameter.</summary>
    public const string LeaderWithoutStoppingToken = "AL0023";

    /// <summary>AL0024: a method has more than one coordination attribute.</summary>
    public const string SeveralCoordinationAttributes = "AL0024";

    /// <summary>AL0025: one key template is used by [EtcdLock] and by [EtcdReadLock]/[EtcdWriteLock].</summary>
    public const string LockAndReaderWriterShareTemplate = "AL0025";
}
