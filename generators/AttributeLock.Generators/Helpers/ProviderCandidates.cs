using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp.Syntax;

namespace AttributeLock.Generators.Helpers;

/// <summary>What can give a containing type's <c>[EtcdLock]</c> methods their <c>IEtcdLockProvider</c>.</summary>
internal sealed class ProviderCandidates
{
    private ProviderCandidates(IReadOnlyList<ISymbol> members, IReadOnlyList<IParameterSymbol> primaryParameters)
    {
        Members = members;
        PrimaryParameters = primaryParameters;
    }

    /// <summary>
    /// The usable fields and properties of the type and its bases, in declaration order, the type's own first;
    /// a member hides a base member of the same name. Static methods may use only the static ones.
    /// </summary>
    public IReadOnlyList<ISymbol> Members { get; }

    /// <summary>
    /// The primary constructor's provider parameters; filled only when <see cref="Members"/> is empty, since a
    /// primary constructor parameter counts only when no field or property does.
    /// </summary>
    public IReadOnlyList<IParameterSymbol> PrimaryParameters { get; }

    /// <summary>Walks <paramref name="type"/>'s members and its bases' members once.</summary>
    public static ProviderCandidates Find(Compilation compilation, INamedTypeSymbol type, INamedTypeSymbol providerType, CancellationToken cancellationToken)
    {
        var members = new List<ISymbol>();
        var seen = new HashSet<string>();
        for (INamedTypeSymbol? current = type; current is not null; current = current.BaseType)
        {
            bool own = SymbolEqualityComparer.Default.Equals(current, type);
            foreach (ISymbol member in current.GetMembers())
            {
                ITypeSymbol? memberType = member switch
                {
                    IFieldSymbol { AssociatedSymbol: null, IsImplicitlyDeclared: false } field => field.Type,
                    IPropertySymbol { IsIndexer: false, GetMethod: { } getter } property when compilation.IsSymbolAccessibleWithin(getter, type) => property.Type,
                    _ => null,
                };
                if (memberType is null || !member.CanBeReferencedByName || !seen.Add(member.Name))
                {
                    continue;
                }

                bool usable = Symbols.IsOrImplements(memberType, providerType)
                    && (own || (member.DeclaredAccessibility != Accessibility.Private && compilation.IsSymbolAccessibleWithin(member, type)));
                if (usable)
                {
                    members.Add(member);
                }
            }
        }

        IReadOnlyList<IParameterSymbol> primaryParameters = Array.Empty<IParameterSymbol>();
        if (members.Count == 0)
        {
            IMethodSymbol? primary = type.InstanceConstructors.FirstOrDefault(c => c.DeclaringSyntaxReferences.Any(r => r.GetSyntax(cancellationToken) is TypeDeclarationSyntax));
            if (primary is not null)
            {
                primaryParameters = primary.Parameters.Where(p => Symbols.IsOrImplements(p.Type, providerType)).ToArray();
            }
        }

        return new ProviderCandidates(members, primaryParameters);
    }
}
