using System.Collections.Immutable;
using System.Linq;
using AttributeLock.Generators.Diagnostics;
using AttributeLock.Generators.Helpers;
using AttributeLock.Generators.Models;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using Microsoft.CodeAnalysis.Diagnostics;

namespace AttributeLock.Generators;

/// <summary>
/// Reports AL0019 on an <c>[EtcdLock]</c>, <c>[EtcdSemaphore]</c>, <c>[EtcdReadLock]</c> or <c>[EtcdWriteLock]</c> method
/// without a <c>CancellationToken</c> parameter: its wait for the
/// lock cannot be cancelled and its Core cannot observe the hold's <c>LostToken</c>. An analyzer rather than
/// the generator reports it, so that <c>#pragma warning disable AL0019</c> works on the method (the compiler
/// applies pragmas only to diagnostics located in a syntax tree, which the generator's cached ones are not).
/// <c>[EtcdLeader]</c> without a token is the generator's error AL0023 instead: nothing could stop its election.
/// </summary>
[DiagnosticAnalyzer(LanguageNames.CSharp)]
public sealed class CancellationTokenAnalyzer : DiagnosticAnalyzer
{
    /// <inheritdoc />
    public override ImmutableArray<DiagnosticDescriptor> SupportedDiagnostics { get; } =
        ImmutableArray.Create(DiagnosticDescriptors.MissingCancellationToken);

    /// <inheritdoc />
    public override void Initialize(AnalysisContext context)
    {
        // The generated implementation's [GeneratedCode] is merged into the partial method's attributes, so the
        // compiler counts the user's declaration as generated code too. Only declarations that carry [EtcdLock]
        // are reported, and the generated part never does.
        context.ConfigureGeneratedCodeAnalysis(GeneratedCodeAnalysisFlags.Analyze | GeneratedCodeAnalysisFlags.ReportDiagnostics);
        context.EnableConcurrentExecution();
        context.RegisterCompilationStartAction(start =>
        {
            INamedTypeSymbol? tokenType = start.Compilation.GetTypeByMetadataName("System.Threading.CancellationToken");
            if (start.Compilation.GetTypeByMetadataName(Symbols.EtcdLockAttribute) is null || tokenType is null)
            {
                return;
            }

            start.RegisterSyntaxNodeAction(nodeContext => Analyze(nodeContext, tokenType), SyntaxKind.MethodDeclaration);
        });
    }

    private static void Analyze(SyntaxNodeAnalysisContext context, INamedTypeSymbol tokenType)
    {
        // The declaration that carries the attribute (a partial method's parts share their attributes).
        var declaration = (MethodDeclarationSyntax)context.Node;
        if (declaration.AttributeLists.Count == 0
            || context.SemanticModel.GetDeclaredSymbol(declaration, context.CancellationToken) is not { } method
            || method.Parameters.Any(p => KnownTypes.Is(p.Type, tokenType)))
        {
            return;
        }

        AttributeData? attribute = method.GetAttributes().FirstOrDefault(a =>
            LockKinds.Of(a.AttributeClass) is { } kind
            && kind != LockKind.Leader
            && a.ApplicationSyntaxReference is { } reference
            && reference.SyntaxTree == declaration.SyntaxTree
            && declaration.Span.Contains(reference.Span));
        if (attribute is null)
        {
            return;
        }

        // Unset, the wait is without limit only when busy calls throw: skip-when-busy makes one attempt (see Parser.Options).
        bool skip = attribute.NamedArguments.FirstOrDefault(a => a.Key == "WhenBusy").Value.Value is int busy && busy == 1;
        int wait = attribute.NamedArguments.FirstOrDefault(a => a.Key == "WaitTimeoutMilliseconds").Value.Value is int value ? value : skip ? 0 : -1;
        context.ReportDiagnostic(Diagnostic.Create(
            DiagnosticDescriptors.MissingCancellationToken,
            declaration.Identifier.GetLocation(),
            method.Name,
            wait == -1 ? "its wait for the lock has no time limit and cannot be cancelled" : "its wait for the lock cannot be cancelled"));
    }
}
