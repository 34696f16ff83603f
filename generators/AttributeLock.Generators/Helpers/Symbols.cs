using System.Collections.Generic;
using System.Linq;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;

namespace AttributeLock.Generators.Helpers;

/// <summary>Symbol helpers shared by the generator's parser and the Core-call analyzer.</summary>
internal static class Symbols
{
    /// <summary>The attribute's metadata name.</summary>
    public const string EtcdLockAttribute = "AttributeLock.EtcdLockAttribute";

    /// <summary>The provider interface's metadata name.</summary>
    public const string EtcdLockProvider = "AttributeLock.IEtcdLockProvider";

    /// <summary>Fully qualified type names with nullable annotations, as the generated code writes them.</summary>
    public static readonly SymbolDisplayFormat TypeFormat = SymbolDisplayFormat.FullyQualifiedFormat
        .AddMiscellaneousOptions(SymbolDisplayMiscellaneousOptions.IncludeNullableReferenceTypeModifier);

    /// <summary>Namespaces as the generated code's <c>namespace</c> line writes them.</summary>
    public static readonly SymbolDisplayFormat NamespaceFormat = SymbolDisplayFormat.FullyQualifiedFormat.WithGlobalNamespaceStyle(SymbolDisplayGlobalNamespaceStyle.Omitted);

    /// <summary>Short type names for messages.</summary>
    public static readonly SymbolDisplayFormat MessageFormat = SymbolDisplayFormat.CSharpErrorMessageFormat;

    /// <summary>Escapes a C# keyword used as an identifier.</summary>
    public static string Escape(string name) => SyntaxFacts.GetKeywordKind(name) != SyntaxKind.None ? "@" + name : name;

    /// <summary>The methods named <c>&lt;Name&gt;Core</c> declared in the wrapper's own type.</summary>
    public static IEnumerable<IMethodSymbol> CoreCandidates(IMethodSymbol wrapper)
        => wrapper.ContainingType.GetMembers(wrapper.Name + NamingConventions.CoreSuffix)
            .OfType<IMethodSymbol>()
            .Where(m => m.MethodKind == MethodKind.Ordinary);

    /// <summary>The wrapper's Core method: same type parameters, parameter types and return type.</summary>
    public static IMethodSymbol? FindCore(IMethodSymbol wrapper)
    {
        foreach (ISymbol member in wrapper.ContainingType.GetMembers(wrapper.Name + NamingConventions.CoreSuffix))
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
            string coreReturns = core.ReturnType.ToDisplayString(MessageFormat);
            string wrapperReturns = wrapper.ReturnType.ToDisplayString(MessageFormat);

            // An unsupported return type of the wrapper is AL0016's subject: never ask the Core to copy it.
            return IsTaskShaped(wrapper.ReturnType)
                ? $"it returns '{coreReturns}', expected '{wrapperReturns}'"
                : $"it returns '{coreReturns}' and '{wrapper.Name}' returns '{wrapperReturns}'; both must return the same Task, Task<T>, ValueTask or ValueTask<T>";
        }

        return null;
    }

    /// <summary>Whether <paramref name="type"/> is or implements <paramref name="interfaceType"/>.</summary>
    public static bool IsOrImplements(ITypeSymbol type, INamedTypeSymbol interfaceType)
        => SymbolEqualityComparer.Default.Equals(type, interfaceType)
        || type.AllInterfaces.Any(i => SymbolEqualityComparer.Default.Equals(i, interfaceType));

    /// <summary>Whether a value of <paramref name="type"/> can be null (reference types, <c>Nullable&lt;T&gt;</c>, unconstrained type parameters).</summary>
    public static bool CanBeNull(ITypeSymbol type)
        => type.IsReferenceType
        || type.OriginalDefinition.SpecialType == SpecialType.System_Nullable_T
        || (type is ITypeParameterSymbol && !type.IsValueType);

    /// <summary><c>T</c> for <c>Nullable&lt;T&gt;</c>, otherwise <paramref name="type"/> itself.</summary>
    public static ITypeSymbol Unwrapped(ITypeSymbol type)
        => type is INamedTypeSymbol { OriginalDefinition.SpecialType: SpecialType.System_Nullable_T } nullable
            ? nullable.TypeArguments[0]
            : type;

    /// <summary>
    /// The readable instance property or field <paramref name="name"/> of <paramref name="type"/> (through its
    /// base types, interfaces and type parameter constraints) that code in <paramref name="within"/> can access.
    /// </summary>
    public static ISymbol? FindMember(Compilation compilation, ITypeSymbol type, string name, INamedTypeSymbol within)
    {
        bool Accessible(ISymbol symbol) => compilation.IsSymbolAccessibleWithin(symbol, within);

        foreach (ITypeSymbol candidate in SearchedTypes(type))
        {
            foreach (ISymbol member in candidate.GetMembers(name))
            {
                bool readable = member switch
                {
                    IFieldSymbol field => !field.IsStatic && Accessible(field),
                    IPropertySymbol property => !property.IsStatic && !property.IsIndexer && property.GetMethod is { } getter && Accessible(getter),
                    _ => false,
                };
                if (readable)
                {
                    return member;
                }
            }
        }

        return null;
    }

    private static IEnumerable<ITypeSymbol> SearchedTypes(ITypeSymbol type)
    {
        if (type is ITypeParameterSymbol typeParameter)
        {
            foreach (ITypeSymbol constraint in typeParameter.ConstraintTypes)
            {
                foreach (ITypeSymbol inner in SearchedTypes(constraint))
                {
                    yield return inner;
                }
            }

            yield break;
        }

        for (ITypeSymbol? current = type; current is not null; current = current.BaseType)
        {
            yield return current;
        }

        if (type.TypeKind == TypeKind.Interface)
        {
            foreach (INamedTypeSymbol inherited in type.AllInterfaces)
            {
                yield return inherited;
            }
        }
    }

    /// <summary>
    /// Whether a value of <paramref name="type"/> has a culture-invariant string form: strings, primitives,
    /// enums, IFormattable, nullable forms of those, and (by decision) any class or struct that overrides
    /// ToString below object/ValueType, since the author chose its text. A record's compiler-generated
    /// ToString does not count.
    /// </summary>
    /// <param name="type">The placeholder's type.</param>
    /// <param name="formattable"><c>System.IFormattable</c>, if the compilation has it.</param>
    public static bool HasInvariantStringForm(ITypeSymbol type, INamedTypeSymbol? formattable)
    {
        type = Unwrapped(type);
        switch (type.SpecialType)
        {
            case SpecialType.System_String:
            case SpecialType.System_Char:
            case SpecialType.System_Boolean:
            case SpecialType.System_SByte:
            case SpecialType.System_Byte:
            case SpecialType.System_Int16:
            case SpecialType.System_UInt16:
            case SpecialType.System_Int32:
            case SpecialType.System_UInt32:
            case SpecialType.System_Int64:
            case SpecialType.System_UInt64:
            case SpecialType.System_Single:
            case SpecialType.System_Double:
            case SpecialType.System_Decimal:
            case SpecialType.System_IntPtr:
            case SpecialType.System_UIntPtr:
            case SpecialType.System_DateTime:
            case SpecialType.System_Enum:
                return true;
        }

        if (type.TypeKind == TypeKind.Enum)
        {
            return true;
        }

        if (type is ITypeParameterSymbol typeParameter)
        {
            return typeParameter.ConstraintTypes.Any(c => HasInvariantStringForm(c, formattable));
        }

        if (formattable is not null && IsOrImplements(type, formattable))
        {
            return true;
        }

        if (type.TypeKind is not (TypeKind.Class or TypeKind.Struct))
        {
            return false;
        }

        for (ITypeSymbol? current = type; current is not null; current = current.BaseType)
        {
            if (current.SpecialType is SpecialType.System_Object or SpecialType.System_ValueType)
            {
                break;
            }

            if (current.GetMembers("ToString").OfType<IMethodSymbol>().Any(m => m.IsOverride && m.Parameters.Length == 0 && !m.IsImplicitlyDeclared))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>Whether <paramref name="type"/> is Task, Task&lt;T&gt;, ValueTask or ValueTask&lt;T&gt; of System.Threading.Tasks.</summary>
    private static bool IsTaskShaped(ITypeSymbol type)
        => type is INamedTypeSymbol { Name: "Task" or "ValueTask", TypeArguments.Length: <= 1, ContainingNamespace: { Name: "Tasks", ContainingNamespace: { Name: "Threading", ContainingNamespace: { Name: "System", ContainingNamespace.IsGlobalNamespace: true } } } };

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
