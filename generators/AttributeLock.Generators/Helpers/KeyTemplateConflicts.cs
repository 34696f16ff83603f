using System;
using System.Collections.Generic;
using System.Collections.Immutable;
using AttributeLock.Generators.Diagnostics;
using AttributeLock.Generators.Models;

namespace AttributeLock.Generators.Helpers;

/// <summary>Finds key templates used both by <c>[EtcdLock]</c> and by <c>[EtcdReadLock]</c>/<c>[EtcdWriteLock]</c> (AL0025).</summary>
internal static class KeyTemplateConflicts
{
    /// <summary>
    /// One AL0025 on every template argument whose template is also used by the other family, naming one method of it
    /// (the first by name, so that the message does not depend on the order the pipeline collected them in).
    /// </summary>
    public static EquatableArray<DiagnosticInfo> Find(ImmutableArray<KeyTemplateUse> uses)
    {
        Dictionary<string, KeyTemplateUse>? firstLock = null;
        Dictionary<string, KeyTemplateUse>? firstReaderWriter = null;
        foreach (KeyTemplateUse use in uses)
        {
            ref Dictionary<string, KeyTemplateUse>? first = ref use.Kind == LockKind.Lock ? ref firstLock : ref firstReaderWriter;
            first ??= new Dictionary<string, KeyTemplateUse>(StringComparer.Ordinal);
            if (!first.TryGetValue(use.Template, out KeyTemplateUse? known) || Compare(use, known) < 0)
            {
                first[use.Template] = use;
            }
        }

        if (firstLock is null || firstReaderWriter is null)
        {
            return EquatableArray<DiagnosticInfo>.Empty;
        }

        var diagnostics = new List<DiagnosticInfo>();
        foreach (KeyTemplateUse use in uses)
        {
            Dictionary<string, KeyTemplateUse> others = use.Kind == LockKind.Lock ? firstReaderWriter : firstLock;
            if (others.TryGetValue(use.Template, out KeyTemplateUse? other))
            {
                diagnostics.Add(DiagnosticInfo.Create(
                    DiagnosticDescriptors.LockAndReaderWriterShareTemplate,
                    use.Location,
                    use.Template,
                    LockKinds.DisplayName(use.Kind),
                    use.Method,
                    LockKinds.DisplayName(other.Kind),
                    other.Method));
            }
        }

        // Reported in a stable order (file, then position), whatever order the methods were collected in.
        diagnostics.Sort(static (a, b) =>
        {
            int byFile = string.CompareOrdinal(a.Location!.FilePath, b.Location!.FilePath);
            return byFile != 0 ? byFile : a.Location.TextSpan.Start.CompareTo(b.Location.TextSpan.Start);
        });
        return diagnostics.ToEquatableArray();
    }

    private static int Compare(KeyTemplateUse a, KeyTemplateUse b)
    {
        int byMethod = string.CompareOrdinal(a.Method, b.Method);
        return byMethod != 0 ? byMethod : a.Kind.CompareTo(b.Kind);
    }
}
