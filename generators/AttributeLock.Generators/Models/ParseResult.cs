using AttributeLock.Generators.Helpers;

namespace AttributeLock.Generators.Models;

/// <summary>What the parser made of one <c>[EtcdLock]</c> method: a model when valid, and its diagnostics.</summary>
/// <param name="Model">The method to implement; <c>null</c> when it has an error.</param>
/// <param name="Diagnostics">Errors and warnings about the method.</param>
internal sealed record ParseResult(LockMethodModel? Model, EquatableArray<DiagnosticInfo> Diagnostics);
