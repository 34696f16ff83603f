using System;
using System.Collections.Generic;
using System.Collections.Immutable;
using System.Globalization;
using System.Linq;
using System.Runtime.CompilerServices;
using AttributeLock.Generators.Models;

namespace AttributeLock.Generators.Helpers;

/// <summary>Gives every model a unique file name.</summary>
internal static class HintNames
{
    private static readonly ConditionalWeakTable<HintNameAssignment[], Dictionary<string, string>> s_indexes
        = new ConditionalWeakTable<HintNameAssignment[], Dictionary<string, string>>();

    /// <summary>
    /// <c>{Type}.{Method}.g.cs</c>; when names collide (overloads, equal type names in different
    /// namespaces) the second and later ones, ordered by identity, get <c>.2</c>, <c>.3</c>, ...
    /// File names compare case-insensitively, as the compiler does.
    /// </summary>
    public static EquatableArray<HintNameAssignment> Assign(ImmutableArray<HintNameRequest> requests)
    {
        var assignments = new List<HintNameAssignment>();
        var taken = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        foreach (HintNameRequest request in requests.OrderBy(r => r.BaseName, StringComparer.OrdinalIgnoreCase).ThenBy(r => r.Identity, StringComparer.Ordinal))
        {
            string name = request.BaseName + ".g.cs";
            for (int suffix = 2; !taken.Add(name); suffix++)
            {
                name = request.BaseName + "." + suffix.ToString(CultureInfo.InvariantCulture) + ".g.cs";
            }

            assignments.Add(new HintNameAssignment(request.Identity, name));
        }

        return assignments.ToEquatableArray();
    }

    /// <summary>The file name assigned to <paramref name="identity"/>.</summary>
    public static string Lookup(EquatableArray<HintNameAssignment> assignments, string identity, string fallback)
    {
        // Every model looks its name up in the same assignments: index them once (per array instance) instead
        // of searching them linearly per model.
        Dictionary<string, string> index = s_indexes.GetValue(assignments.Items, static items =>
        {
            var byIdentity = new Dictionary<string, string>(items.Length, StringComparer.Ordinal);
            foreach (HintNameAssignment assignment in items)
            {
                if (!byIdentity.ContainsKey(assignment.Identity))
                {
                    byIdentity.Add(assignment.Identity, assignment.HintName);
                }
            }

            return byIdentity;
        });
        return index.TryGetValue(identity, out string? hintName) ? hintName : fallback + ".g.cs";
    }
}
