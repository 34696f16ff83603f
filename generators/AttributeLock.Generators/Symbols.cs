using System.Collections.Generic;
using System.Linq;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;

namespace AttributeLock.Generators
{
    /// <summary>Symbol helpers shared by the generator's parser and the Core-call analyzer.</summary>
    internal static class Symbols
    {
        /// <summary>The attribute's metadata name.</summary>
        public const string EtcdLockAttribute = "AttributeLock.EtcdLockAttribute";

        /// <summary>The provider interface's metadata name.</summary>
        public const string EtcdLockProvider = "AttributeLock.IEtcdLockProvider";

        /// <summary>The suffix of the method holding an <c>[EtcdLock]</c> method's body.</summary>
        public const string CoreSuffix = "Core";

        /// <summary>Fully qualified type names with nullable annotations, as the generated code writes them.</summary>
        public static readonly SymbolDisplayFormat TypeFormat = SymbolDisplayFormat.FullyQualifiedFormat
            .AddMiscellaneousOptions(SymbolDisplayMiscellaneousOptions.IncludeNullableReferenceTypeModifier);

        /// <summary>Short type names for messages.</summary>
        public static readonly SymbolDisplayFormat MessageFormat = SymbolDisplayFormat.CSharpErrorMessageFormat;

        /// <summary>Escapes a C# keyword used as an identifier.</summary>
        public static string Escape(string name) => SyntaxFacts.GetKeywordKind(name) != SyntaxKind.None ? "@" + name : name;

        /// <summary>Whether <paramref name="method"/> carries <c>[EtcdLock]</c>.</summary>
        public static bool HasEtcdLockAttribute(IMethodSymbol method, INamedTypeSymbol attributeType)
            => method.GetAttributes().Any(a => SymbolEqualityComparer.Default.Equals(a.AttributeClass, attributeType));

        /// <summary>The methods named <c>&lt;Name&gt;Core</c> declared in the wrapper's own type.</summary>
        public static IEnumerable<IMethodSymbol> CoreCandidates(IMethodSymbol wrapper)
            => wrapper.ContainingType.GetMembers(wrapper.Name + CoreSuffix)
                .OfType<IMethodSymbol>()
                .Where(m => m.MethodKind == MethodKind.Ordinary);

        /// <summary>The wrapper's Core method: same type parameters, parameter types and return type.</summary>
        public static IMethodSymbol? FindCore(IMethodSymbol wrapper)
        {
            foreach (ISymbol member in wrapper.ContainingType.GetMembers(wrapper.Name + CoreSuffix))
            {
                if (member is IMethodSymbol { MethodKind: MethodKind.Ordinary } core && CoreMismatch(wrapper, core) is null)
                {
                    return core;
                }
            }

            return null;
        }

        /// <summary>Why <paramref name="core"/> cannot be the Core of <paramref name="wrapper"/>; <c>null</c> when it can.</summary>
        public static string? CoreMismatch(IMethodSymbol wrapper, IMethodSymbol core)
        {
            if (core.TypeParameters.Length != wrapper.TypeParameters.Length)
            {
                return $"it has {core.TypeParameters.Length} type parameter(s), '{wrapper.Name}' has {wrapper.TypeParameters.Length}";
            }

            if (wrapper.IsStatic && !core.IsStatic)
            {
                return $"it must be static because '{wrapper.Name}' is static";
            }

            IMethodSymbol constructed = core.TypeParameters.Length == 0
                ? core
                : core.Construct(wrapper.TypeParameters.Cast<ITypeSymbol>().ToArray());

            if (!SameParameters(constructed.Parameters, wrapper.Parameters))
            {
                return $"its parameters are ({ParameterList(core)}), expected ({ParameterList(wrapper)})";
            }

            if (!SymbolEqualityComparer.Default.Equals(constructed.ReturnType, wrapper.ReturnType))
            {
                return $"it returns '{core.ReturnType.ToDisplayString(MessageFormat)}', expected '{wrapper.ReturnType.ToDisplayString(MessageFormat)}'";
            }

            return null;
        }

        /// <summary>Whether <paramref name="type"/> is or implements <paramref name="interfaceType"/>.</summary>
        public static bool IsOrImplements(ITypeSymbol type, INamedTypeSymbol interfaceType)
            => SymbolEqualityComparer.Default.Equals(type, interfaceType)
            || type.AllInterfaces.Any(i => SymbolEqualityComparer.Default.Equals(i, interfaceType));

        private static bool SameParameters(System.Collections.Immutable.ImmutableArray<IParameterSymbol> core, System.Collections.Immutable.ImmutableArray<IParameterSymbol> wrapper)
        {
            if (core.Length != wrapper.Length)
            {
                return false;
            }

            for (int i = 0; i < core.Length; i++)
            {
                if (core[i].RefKind != wrapper[i].RefKind || !SymbolEqualityComparer.Default.Equals(core[i].Type, wrapper[i].Type))
                {
                    return false;
                }
            }

            return true;
        }

        private static string ParameterList(IMethodSymbol method)
            => string.Join(", ", method.Parameters.Select(p => p.Type.ToDisplayString(MessageFormat)));
    }
}
