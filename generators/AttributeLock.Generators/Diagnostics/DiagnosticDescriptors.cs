using Microsoft.CodeAnalysis;

namespace AttributeLock.Generators.Diagnostics;

/// <summary>
/// All diagnostics reported by the AttributeLock generator and analyzer. Each has a description and a help
/// link to its section of <c>docs/diagnostics.md</c>.
/// </summary>
public static class DiagnosticDescriptors
{
    /// <summary>The page every help link points into; the anchor is the lower-case id, e.g. <c>#al0005</c>.</summary>
    internal const string HelpLinkBase = "https://github.com/attributelock/attributelock/blob/main/docs/diagnostics.md";

    private const string Category = "AttributeLock";

    /// <summary>AL0001: the key template is empty.</summary>
    public static readonly DiagnosticDescriptor EmptyTemplate = Error(
        DiagnosticIds.EmptyTemplate,
        "Lock key template is empty",
        "The lock key template of '{0}' is empty; give a key such as \"/orders/<id>\"",
        "The first argument of [EtcdLock] is the key template: the etcd key the method locks, written as literal text with <parameter> placeholders, such as \"/orders/<id>\". An empty or null template names no key.");

    /// <summary>AL0002: a placeholder names no parameter.</summary>
    public static readonly DiagnosticDescriptor UnknownPlaceholder = Error(
        DiagnosticIds.UnknownPlaceholder,
        "Lock key placeholder names no parameter",
        "The lock key placeholder '<{0}>' does not name a parameter of '{1}'{2}",
        "Every placeholder of the key template starts with the name of one of the method's parameters, optionally followed by .Member steps. The message suggests the closest parameter name or lists the parameters.");

    /// <summary>AL0003: a placeholder is unterminated, empty or not a name.</summary>
    public static readonly DiagnosticDescriptor MalformedPlaceholder = Error(
        DiagnosticIds.MalformedPlaceholder,
        "Lock key placeholder is malformed",
        "The lock key placeholder '{0}' is malformed: {1}",
        "A placeholder is '<', a parameter name or a member path such as order.CustomerId, and '>'. A '<' without its '>', an empty '<>' and content that is not a name or a dotted path are errors.");

    /// <summary>AL0004: a member of a placeholder's path does not exist.</summary>
    public static readonly DiagnosticDescriptor MemberNotFound = Error(
        DiagnosticIds.MemberNotFound,
        "Lock key placeholder member not found",
        "The lock key placeholder '<{0}>' cannot be resolved: '{1}' has no readable instance property or field named '{2}'",
        "Each .Member step of a placeholder must name a readable instance property or field of the value before it, accessible from the method's type; it is looked up through Nullable<T>, base types, interfaces and type parameter constraints.");

    /// <summary>AL0005: a placeholder was written with braces.</summary>
    public static readonly DiagnosticDescriptor BracePlaceholder = Error(
        DiagnosticIds.BracePlaceholder,
        "Lock key placeholders use angle brackets",
        "'{{{0}}}' in the lock key template is literal text, not a placeholder; write '<{0}>'",
        "Placeholders are written with angle brackets. '{id}' would stay literal text, so every call would lock the same key. The code fix writes '<id>'.");

    /// <summary>AL0006: a placeholder's type has no culture-invariant string form.</summary>
    public static readonly DiagnosticDescriptor PlaceholderType = Error(
        DiagnosticIds.PlaceholderType,
        "Lock key placeholder type has no culture-invariant string form",
        "The lock key placeholder '<{0}>' has type '{1}', which has no culture-invariant string form: use a string, a primitive, an enum, a type implementing IFormattable or a type that overrides ToString{2}",
        "A placeholder's value becomes part of the key, so every process must turn it into the same text: strings, primitives, enums, IFormattable types (Guid, DateTimeOffset, ...), Nullable<T> of those, types that override ToString, and type parameters constrained to one of these. A record's compiler-generated ToString does not count.");

    /// <summary>AL0007: the key template does not start with '/'.</summary>
    public static readonly DiagnosticDescriptor TemplateWithoutSlash = Create(
        DiagnosticIds.TemplateWithoutSlash,
        "Lock key template should start with '/'",
        "The lock key template \"{0}\" does not start with '/'; keys are paths such as \"/orders/<id>\"",
        DiagnosticSeverity.Warning,
        "Lock keys are paths such as \"/orders/42\"; a template without the leading '/' has probably lost it. The implementation is still generated.");

    /// <summary>AL0008: Ttl set explicitly below 1.</summary>
    public static readonly DiagnosticDescriptor InvalidTtl = Error(
        DiagnosticIds.InvalidTtl,
        "Lock Ttl must be at least 1 second",
        "Ttl is {0}; set it to at least 1 second, or leave it unset to use the provider's default",
        "Ttl is the lease's time to live in seconds: when a holder dies, its lock comes free after at most this time. It must be at least 1; leave it unset to use the provider's DefaultTtlSeconds.");

    /// <summary>AL0009: WaitTimeoutMilliseconds below -1.</summary>
    public static readonly DiagnosticDescriptor InvalidWaitTimeout = Error(
        DiagnosticIds.InvalidWaitTimeout,
        "Lock wait timeout is invalid",
        "WaitTimeoutMilliseconds is {0}; use -1 to wait without limit, 0 for a single attempt or a positive number of milliseconds",
        "WaitTimeoutMilliseconds is how long a call waits for a busy lock: -1 until it is acquired or the call is cancelled, 0 a single attempt, a positive value that many milliseconds. Other negative values are errors. Left unset it is -1, or 0 with WhenBusy = Skip.");

    /// <summary>AL0010: the method is not a partial declaration without a body.</summary>
    public static readonly DiagnosticDescriptor MethodNotPartial = Error(
        DiagnosticIds.MethodNotPartial,
        "[EtcdLock] method must be partial",
        "'{0}' must be declared 'partial' without a body so that the generator can implement it{1}",
        "The generator writes the implementation of an [EtcdLock] method, so the attribute goes on a partial declaration without a body; the body belongs in <Name>Core. The code fix makes the method partial and moves its body to <Name>Core.");

    /// <summary>AL0011: a containing type is not partial.</summary>
    public static readonly DiagnosticDescriptor TypeNotPartial = Error(
        DiagnosticIds.TypeNotPartial,
        "Type containing an [EtcdLock] method must be partial",
        "'{0}' must be declared 'partial' because it contains the [{2}] method '{1}'",
        "The implementation is generated into the method's type, so that type and every type containing it must be partial. The code fix adds the modifier.");

    /// <summary>AL0012: the Core method is missing.</summary>
    public static readonly DiagnosticDescriptor CoreMissing = Error(
        DiagnosticIds.CoreMissing,
        "[EtcdLock] method has no Core method",
        "'{0}' needs a method '{1}' in the same type with the same parameters and return type: the generated implementation calls it while holding the lock",
        "The generated implementation acquires the lock, calls <Name>Core with the same arguments and releases the lock when the returned task completes. The code fix adds a <Name>Core method with the same signature.");

    /// <summary>AL0013: the Core method does not match.</summary>
    public static readonly DiagnosticDescriptor CoreMismatch = Error(
        DiagnosticIds.CoreMismatch,
        "Core method does not match its [EtcdLock] method",
        "'{0}' does not match the [{3}] method '{1}': {2}",
        "<Name>Core must be declared in the same type as the [EtcdLock] method, with the same number of type parameters, the same parameter types and the same return type (one of Task, Task<T>, ValueTask and ValueTask<T>), and be static when the method is static: the implementation passes its arguments through and returns the Core's result.");

    /// <summary>AL0014: no lock provider member.</summary>
    public static readonly DiagnosticDescriptor ProviderMissing = Error(
        DiagnosticIds.ProviderMissing,
        "No IEtcdLockProvider for an [EtcdLock] method",
        "'{0}' has no {1}field, property or primary constructor parameter of type IEtcdLockProvider for '{2}' to lock with",
        "The implementation locks through an IEtcdLockProvider of the containing type: a field or property of the type or of a base type (not private there), or a primary constructor parameter. A static method needs a static field or property.");

    /// <summary>AL0015: several lock provider members.</summary>
    public static readonly DiagnosticDescriptor ProviderAmbiguous = Error(
        DiagnosticIds.ProviderAmbiguous,
        "Several IEtcdLockProvider members for an [EtcdLock] method",
        "'{0}' has several members of type IEtcdLockProvider that '{1}' could lock with ({2}); keep exactly one",
        "Exactly one IEtcdLockProvider member may be in reach of the method, so that it is clear which provider, and so which etcd cluster, the lock uses.");

    /// <summary>AL0016: the return type is not Task, Task&lt;T&gt;, ValueTask or ValueTask&lt;T&gt;.</summary>
    public static readonly DiagnosticDescriptor UnsupportedReturnType = Error(
        DiagnosticIds.UnsupportedReturnType,
        "[EtcdLock] method has an unsupported return type",
        "'{0}' returns '{1}', which an [{3}] method cannot: {2}",
        "The lock is released when the returned task completes, so an [EtcdLock] method returns Task, Task<T>, ValueTask or ValueTask<T>. A void method cannot be awaited, and an async iterator would hold the lock between its yields.");

    /// <summary>AL0017: a parameter cannot be passed through an async wrapper.</summary>
    public static readonly DiagnosticDescriptor UnsupportedParameter = Error(
        DiagnosticIds.UnsupportedParameter,
        "[EtcdLock] method has an unsupported parameter",
        "Parameter '{0}' of '{1}' is {2}, which an async method cannot take",
        "The generated implementation is an async method, which cannot take ref, in or out parameters, ref structs such as Span<T>, or pointers.");

    /// <summary>AL0018: a Core method is called or referenced directly, bypassing the lock.</summary>
    public static readonly DiagnosticDescriptor CoreCalledDirectly = Create(
        DiagnosticIds.CoreCalledDirectly,
        "Core method of an [EtcdLock] method used directly",
        "'{0}' runs without the lock of '{1}'; call '{1}' instead",
        DiagnosticSeverity.Error,
        "The Core method holds the body of an [EtcdLock] method; only the generated implementation may call it, because every other call bypasses the distributed lock.",
        WellKnownDiagnosticTags.NotConfigurable);

    /// <summary>AL0019: the method takes no CancellationToken, so its wait and its body cannot be cancelled.</summary>
    public static readonly DiagnosticDescriptor MissingCancellationToken = Create(
        DiagnosticIds.MissingCancellationToken,
        "[EtcdLock] method has no CancellationToken parameter",
        "'{0}' has no CancellationToken parameter: {1}, and its Core cannot observe the hold's LostToken; add a parameter 'CancellationToken cancellationToken = default' to '{0}' and its Core",
        DiagnosticSeverity.Warning,
        "The generated implementation passes the method's CancellationToken to the lock and hands its Core a token that is also cancelled when the hold is lost (lease expired or revoked). Without such a parameter nobody can cancel the wait for the lock, which by default has no time limit, and the body keeps running after the lock is lost. The code fix adds the parameter to the method and to its Core.");

    /// <summary>AL0020: HoldAtLeastMilliseconds is negative.</summary>
    public static readonly DiagnosticDescriptor InvalidHoldAtLeast = Error(
        DiagnosticIds.InvalidHoldAtLeast,
        "Lock minimum hold is invalid",
        "HoldAtLeastMilliseconds is {0}; use 0 for no minimum or a positive number of milliseconds",
        "HoldAtLeastMilliseconds is the least time the key stays taken, counted from the moment the lock was acquired (ShedLock's lockAtLeastFor): 0 for none, or a positive number of milliseconds, which the key's lease expresses in whole seconds. A negative value, such as -1 (Timeout.Infinite), cannot be a lease's time to live.");

    /// <summary>AL0021: an [EtcdSemaphore] has no MaxCount, or one below 1.</summary>
    public static readonly DiagnosticDescriptor InvalidMaxCount = Error(
        DiagnosticIds.InvalidMaxCount,
        "Semaphore MaxCount must be at least 1",
        "MaxCount {0}; set it to how many calls may run at once across all processes, at least 1",
        "[EtcdSemaphore] lets at most MaxCount calls hold a ticket at once. MaxCount has no default because the number is the point of the semaphore: leaving it out, or setting 0 or a negative value, is an error. Every user of one semaphore key must set the same value.");

    /// <summary>AL0022: an [EtcdLeader] method does not return Task.</summary>
    public static readonly DiagnosticDescriptor LeaderReturnType = Error(
        DiagnosticIds.LeaderReturnType,
        "[EtcdLeader] method must return Task",
        "'{0}' returns '{1}'; an [EtcdLeader] method returns System.Threading.Tasks.Task, which completes when the election ends for this instance",
        "The generated body of an [EtcdLeader] method runs the election (EtcdLockInvocation.LeadAsync) and returns its Task: it campaigns, runs <Name>Core while leading, campaigns again after a loss and resigns when the stopping token is cancelled. There is no result to return, and the election is not a ValueTask.");

    /// <summary>AL0023: an [EtcdLeader] method has no CancellationToken parameter.</summary>
    public static readonly DiagnosticDescriptor LeaderWithoutStoppingToken = Error(
        DiagnosticIds.LeaderWithoutStoppingToken,
        "[EtcdLeader] method has no CancellationToken parameter",
        "'{0}' has no CancellationToken parameter: an [EtcdLeader] method needs the stopping token, whose cancellation resigns the leadership and ends the election",
        "An election runs until its stopping token is cancelled: then the leader resigns at once, so another instance takes over without waiting for the lease's TTL. Without a CancellationToken parameter nothing could stop the election. A BackgroundService's ExecuteAsync(CancellationToken stoppingToken) has one.");

    /// <summary>AL0024: a method has more than one coordination attribute.</summary>
    public static readonly DiagnosticDescriptor SeveralCoordinationAttributes = Error(
        DiagnosticIds.SeveralCoordinationAttributes,
        "Method has more than one coordination attribute",
        "'{0}' already has [{1}]; [{2}] cannot be combined with it: a method takes one of [EtcdLock], [EtcdSemaphore], [EtcdReadLock], [EtcdWriteLock] and [EtcdLeader]",
        "The generator writes one implementation per method, and each of these attributes makes a different one. To hold several, call one coordinated method from the Core of another.");

    /// <summary>AL0025: one key template is used by [EtcdLock] and by [EtcdReadLock]/[EtcdWriteLock].</summary>
    public static readonly DiagnosticDescriptor LockAndReaderWriterShareTemplate = Create(
        DiagnosticIds.LockAndReaderWriterShareTemplate,
        "Plain lock and reader-writer lock share a key template",
        "The key template \"{0}\" of the [{1}] method '{2}' is also used by the [{3}] method '{4}'; a plain lock and a reader-writer lock are different keys in etcd, so these methods do not exclude each other",
        DiagnosticSeverity.Warning,
        "[EtcdLock] and [EtcdReadLock]/[EtcdWriteLock] keep their holders under different etcd keys even when the templates are equal, so a plain lock never waits for a reader-writer lock on the same template, nor the other way round. Use [EtcdWriteLock] where [EtcdLock] was meant to exclude the readers, or give the two different templates.");

    private static DiagnosticDescriptor Error(string id, string title, string message, string description)
        => Create(id, title, message, DiagnosticSeverity.Error, description);

    private static DiagnosticDescriptor Create(string id, string title, string message, DiagnosticSeverity severity, string description, params string[] customTags)
        => new DiagnosticDescriptor(
            id,
            title,
            message,
            Category,
            severity,
            isEnabledByDefault: true,
            description: description,
            helpLinkUri: HelpLinkBase + "#" + id.ToLowerInvariant(),
            customTags: customTags);
}
