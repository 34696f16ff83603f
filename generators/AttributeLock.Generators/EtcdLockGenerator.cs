using System.Collections.Immutable;
using AttributeLock.Generators.Helpers;
using AttributeLock.Generators.Models;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp.Syntax;

namespace AttributeLock.Generators;

/// <summary>
/// Implements every <c>partial</c> method marked <c>[EtcdLock]</c>: the implementation formats the key,
/// acquires the lock through the containing type's <c>IEtcdLockProvider</c>, calls <c>&lt;Name&gt;Core</c>
/// and releases the lock when that call completes.
/// </summary>
[Generator(LanguageNames.CSharp)]
public sealed class EtcdLockGenerator : IIncrementalGenerator
{
    /// <inheritdoc />
    public void Initialize(IncrementalGeneratorInitializationContext context)
    {
        IncrementalValuesProvider<ParseResult> results = context.SyntaxProvider
            .ForAttributeWithMetadataName(
                Symbols.EtcdLockAttribute,
                static (node, _) => node is MethodDeclarationSyntax,
                static (attributeContext, cancellationToken) => Parser.Parse(attributeContext, cancellationToken))
            .WithTrackingName(TrackingNames.Parse);

        IncrementalValuesProvider<DiagnosticInfo> diagnostics = results
            .SelectMany(static (result, _) => result.Diagnostics.Count == 0 ? ImmutableArray<DiagnosticInfo>.Empty : ImmutableArray.Create(result.Diagnostics.Items))
            .WithTrackingName(TrackingNames.Diagnostics);
        context.RegisterSourceOutput(diagnostics, static (output, diagnostic) => output.ReportDiagnostic(diagnostic.ToDiagnostic()));

        IncrementalValuesProvider<LockMethodModel> models = results
            .Where(static result => result.Model is not null)
            .Select(static (result, _) => result.Model!)
            .WithTrackingName(TrackingNames.Models);

        IncrementalValueProvider<EquatableArray<HintNameAssignment>> hintNames = models
            .Select(static (model, _) => new HintNameRequest(model.Identity, model.BaseHintName))
            .Collect()
            .Select(static (requests, _) => HintNames.Assign(requests))
            .WithTrackingName(TrackingNames.HintNames);

        IncrementalValuesProvider<GeneratedFile> files = models
            .Combine(hintNames)
            .Select(static (pair, _) => new GeneratedFile(HintNames.Lookup(pair.Right, pair.Left.Identity, pair.Left.BaseHintName), pair.Left))
            .WithTrackingName(TrackingNames.Files);
        context.RegisterSourceOutput(files, static (output, file) => output.AddSource(file.HintName, Emitter.Emit(file.Model)));
    }
}
