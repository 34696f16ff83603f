using AttributeLock.Generators.Helpers;

namespace AttributeLock.Generators.Models;

/// <summary>What the parser made of one method with a coordination attribute (<c>[EtcdLock]</c>, <c>[EtcdSemaphore]</c>, ...): a model when valid, and its diagnostics.</summary>
/// <param name="Model">The method to implement; <c>null</c> when it has an error.</param>
/// <param name="Diagnostics">Errors and warnings about the method.</param>
/// <param name="TemplateUse">
/// The key template of an <c>[EtcdLock]</c>, <c>[EtcdReadLock]</c> or <c>[EtcdWriteLock]</c> method, for the check across
/// methods (AL0025); <c>null</c> for the other attributes and for an empty template.
/// </param>
internal sealed record ParseResult(LockMethodModel? Model, EquatableArray<DiagnosticInfo> Diagnostics, KeyTemplateUse? TemplateUse = null);
