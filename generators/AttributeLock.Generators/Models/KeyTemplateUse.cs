namespace AttributeLock.Generators.Models;

/// <summary>
/// One key template of an <c>[EtcdLock]</c>, <c>[EtcdReadLock]</c> or <c>[EtcdWriteLock]</c> method, collected across
/// the compilation to find a template used both by a plain lock and by a reader-writer lock (AL0025).
/// </summary>
/// <param name="Kind">The attribute.</param>
/// <param name="Template">The key template as written (its value).</param>
/// <param name="Method">The method, as <c>Type.Method</c>, for the message.</param>
/// <param name="Location">The template argument.</param>
internal sealed record KeyTemplateUse(LockKind Kind, string Template, string Method, LocationInfo Location);
