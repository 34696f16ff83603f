using AttributeLock.Generators.Helpers;

namespace AttributeLock.Generators.Models;

/// <summary>Everything the emitter needs to write one wrapper; plain values only.</summary>
/// <param name="Kind">The attribute, which decides the runtime call.</param>
/// <param name="Identity">A compilation-unique name of the method (for assigning file names).</param>
/// <param name="BaseHintName">The file name without suffix, e.g. <c>Outer.Inner.ShipAsync</c>.</param>
/// <param name="Namespace">The containing namespace, or <c>null</c> for the global namespace.</param>
/// <param name="ContainingTypes">The containing types, outermost first.</param>
/// <param name="Modifiers">The declaration's modifiers without <c>partial</c>, e.g. <c>public static</c>.</param>
/// <param name="ReturnType">The fully qualified return type.</param>
/// <param name="Name">The method name (escaped if a keyword).</param>
/// <param name="TypeParameters">The method's type parameter list, e.g. <c>&lt;T&gt;</c>, or empty.</param>
/// <param name="Parameters">The parameter list's entries, e.g. <c>int id</c>.</param>
/// <param name="Constraints">The method's constraint clauses.</param>
/// <param name="ReturnsValue">True for <c>Task&lt;T&gt;</c> and <c>ValueTask&lt;T&gt;</c>.</param>
/// <param name="Provider">The expression giving the <c>IEtcdLockProvider</c>.</param>
/// <param name="KeyParts">The key template's literal and placeholder parts.</param>
/// <param name="TtlSeconds">The attribute's Ttl (0: provider default).</param>
/// <param name="MaxCount">The semaphore's ticket count (<c>[EtcdSemaphore]</c> only; 0 otherwise).</param>
/// <param name="WaitTimeoutMilliseconds">The attribute's wait timeout.</param>
/// <param name="HoldAtLeastMilliseconds">The attribute's minimum hold (0: none; then the wrapper does not pass it).</param>
/// <param name="WhenBusy">What to do when the lock is busy.</param>
/// <param name="CancellationTokenParameter">The method's CancellationToken parameter (escaped), if any.</param>
/// <param name="CoreName">The Core method's name plus type arguments, e.g. <c>ShipAsyncCore&lt;T&gt;</c>.</param>
/// <param name="Arguments">The parameter names (escaped) in order, as passed to Core.</param>
/// <param name="LockLocal">
/// The name of the local that holds the lock scope; for <c>[EtcdLeader]</c>, the lambda's parameter (the leadership's token).
/// </param>
/// <param name="ErrorIds">
/// For a method with AL errors, the ids (<c>AL0002, AL0012</c>): the implementation only throws and the lock fields
/// are empty. <c>null</c> for a real wrapper.
/// </param>
internal sealed record LockMethodModel(
    LockKind Kind,
    string Identity,
    string BaseHintName,
    string? Namespace,
    EquatableArray<ContainingTypeModel> ContainingTypes,
    string Modifiers,
    string ReturnType,
    string Name,
    string TypeParameters,
    EquatableArray<string> Parameters,
    EquatableArray<string> Constraints,
    bool ReturnsValue,
    string Provider,
    EquatableArray<KeyPart> KeyParts,
    int TtlSeconds,
    int MaxCount,
    int WaitTimeoutMilliseconds,
    int HoldAtLeastMilliseconds,
    BusyBehavior WhenBusy,
    string? CancellationTokenParameter,
    string CoreName,
    EquatableArray<string> Arguments,
    string LockLocal,
    string? ErrorIds);
