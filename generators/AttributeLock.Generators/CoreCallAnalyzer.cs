using System.Collections.Concurrent;
using System.Collections.Immutable;
using System.Linq;
using AttributeLock.Generators.Diagnostics;
using AttributeLock.Generators.Helpers;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using Microsoft.CodeAnalysis.Diagnostics;
using Microsoft.CodeAnalysis.Operations;

namespace AttributeLock.Generators;

/// <summary>
/// Reports AL0018 for every call of, or method-group reference to, the <c>&lt;Name&gt;Core</c> method of an
/// <c>[EtcdLock]</c>, <c>[EtcdSemaphore]</c>, <c>[EtcdReadLock]</c>, <c>[EtcdWriteLock]</c> or <c>[EtcdLeader]</c> method
/// outside the generated implementation: such a call runs the body without the lock (or the leadership).
/// Generated code is not analyzed, and a Core method calling itself (already under the lock) is allowed.
/// </summary>
[DiagnosticAnalyzer(LanguageNames.CSharp)]
public sealed class CoreCallAnalyzer : DiagnosticAnalyzer
{
    /// <inheritdoc />
    public override ImmutableArray<DiagnosticDescriptor> SupportedDiagnostics { get; } =
        ImmutableArray.Create(DiagnosticDescriptors.CoreCalledDirectly);

    /// <inheritdoc />
    public override void Initialize(AnalysisContext context)
    {
        context.ConfigureGeneratedCodeAnalysis(GeneratedCodeAnalysisFlags.None);
        context.EnableConcurrentExecution();
        context.RegisterCompilationStartAction(start =>
        {
            if (start.Compilation.GetTypeByMetadataName(Symbols.EtcdLockAttribute) is null)
            {
                return;
            }

            var wrappers = new ConcurrentDictionary<IMethodSymbol, IMethodSymbol?>(SymbolEqualityComparer.Default);
            start.RegisterOperationAction(
                operation =>
                {
                    IMethodSymbol target = operation.Operation switch
                    {
                        IInvocationOperation invocation => invocation.TargetMethod,
                        IMethodReferenceOperation reference => reference.Method,
                        _ => null!,
                    };
                    if (target is null || IsInNameOf(operation.Operation))
                    {
                        return;
                    }

                    IMethodSymbol core = target.ReducedFrom ?? target;
                    core = core.OriginalDefinition;
                    IMethodSymbol? wrapper = wrappers.GetOrAdd(core, FindWrapper);
                    if (wrapper is null || IsExempt(operation.ContainingSymbol, wrapper, core))
                    {
                        return;
                    }

                    operation.ReportDiagnostic(Diagnostic.Create(
                        DiagnosticDescriptors.CoreCalledDirectly,
                        NameLocation(operation.Operation.Syntax),
                        core.Name,
                        wrapper.Name));
                },
                OperationKind.Invocation,
                OperationKind.MethodReference);
        });
    }

    private static IMethodSymbol? FindWrapper(IMethodSymbol core)
    {
        if (core.MethodKind != MethodKind.Ordinary || core.Name.Length <= NamingConventions.CoreSuffix.Length || !core.Name.EndsWith(NamingConventions.CoreSuffix, System.StringComparison.Ordinal))
        {
            return null;
        }

        string wrapperName = core.Name.Substring(0, core.Name.Length - NamingConventions.CoreSuffix.Length);
        return core.ContainingType.GetMembers(wrapperName)
            .OfType<IMethodSymbol>()
            .Select(m => m.PartialDefinitionPart ?? m)
            .FirstOrDefault(m => LockKinds.First(m) is not null
                && SymbolEqualityComparer.Default.Equals(Symbols.FindCore(m), core));
    }

    private static bool IsExempt(ISymbol containing, IMethodSymbol wrapper, IMethodSymbol core)
    {
        if (containing is not IMethodSymbol method)
        {
            return false;
        }

        method = method.OriginalDefinition;
        return SymbolEqualityComparer.Default.Equals(method, core)
            || SymbolEqualityComparer.Default.Equals(method, wrapper)
            || SymbolEqualityComparer.Default.Equals(method.PartialDefinitionPart, wrapper);
    }

    private static bool IsInNameOf(IOperation operation)
    {
        for (IOperation? current = operation.Parent; current is not null; current = current.Parent)
        {
            if (current is INameOfOperation)
            {
                return true;
            }
        }

        return false;
    }

    private static Location NameLocation(SyntaxNode syntax)
    {
        ExpressionSyntax? expression = syntax is InvocationExpressionSyntax invocation ? invocation.Expression : syntax as ExpressionSyntax;
        SyntaxNode name = expression switch
        {
            MemberAccessExpressionSyntax access => access.Name,
            MemberBindingExpressionSyntax binding => binding.Name,
            _ => (SyntaxNode?)expression ?? syntax,
        };
        return name.GetLocation();
    }
}
