using System.Collections.Immutable;
using AttributeLock.Generators.Helpers;
using AttributeLock.Generators.Models;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp.Syntax;

namespace AttributeLock.Generators;

/// <summary>
/// Implements every <c>partial</c> method marked <c>[EtcdLock]</c>, <c>[EtcdSemaphore]</c>, <c>[EtcdReadLock]</c>,
/// <c>[EtcdWriteLock]</c> or <c>[EtcdLeader]</c>: the implementation formats the key and calls the matching
/// <c>EtcdLockInvocation</c> entry point through the containing type's <c>IEtcdLockProvider</c>, which runs
/// <c>&lt;Name&gt;Core</c> under the hold (or while leading).
/// </summary>
[Generator(LanguageNames.CSharp)]
public sealed class EtcdLockGenerator : IIncrementalGenerator
{
    /// <inheritdoc />
    public void Initialize(IncrementalGeneratorInitializationContext context)
    {
        // One pipeline per attribute up to the models, so that each keeps its own per-method caching; the file names
        // are assigned over all of them (overloads may carry different attributes).
        ImmutableArray<LockKind> kinds = LockKinds.All;
        var modelsByKind = new IncrementalValuesProvider<LockMethodModel>[kinds.Length];
        IncrementalValueProvider<ImmutableArray<HintNameRequest>>? requests = null;
        IncrementalValueProvider<ImmutableArray<KeyTemplateUse>>? templates = null;
        for (int i = 0; i < kinds.Length; i++)
        {
            LockKind kind = kinds[i];
            IncrementalValuesProvider<ParseResult> results = context.SyntaxProvider
                .ForAttributeWithMetadataName(
                    LockKinds.MetadataName(kind),
                    static (node, _) => node is MethodDeclarationSyntax,
                    (attributeContext, cancellationToken) => Parser.Parse(attributeContext, kind, cancellationToken))
                .WithTrackingName(TrackingNames.Parse);

            IncrementalValuesProvider<DiagnosticInfo> diagnostics = results
                .SelectMany(static (result, _) => result.Diagnostics.Count == 0 ? ImmutableArray<DiagnosticInfo>.Empty : ImmutableArray.Create(result.Diagnostics.Items))
                .WithTrackingName(TrackingNames.Diagnostics);
            context.RegisterSourceOutput(diagnostics, static (output, diagnostic) => output.ReportDiagnostic(diagnostic.ToDiagnostic()));

            IncrementalValuesProvider<LockMethodModel> models = results
                .Where(static result => result.Model is not null)
                .Select(static (result, _) => result.Model!)
                .WithTrackingName(TrackingNames.Models);
            modelsByKind[i] = models;

            IncrementalValueProvider<ImmutableArray<HintNameRequest>> kindRequests = models
                .Select(static (model, _) => new HintNameRequest(model.Identity, model.BaseHintName))
                .Collect();
            requests = requests is { } soFar
                ? soFar.Combine(kindRequests).Select(static (pair, _) => pair.Right.IsEmpty ? pair.Left : pair.Left.AddRange(pair.Right))
                : kindRequests;

            if (kind is LockKind.Lock or LockKind.ReadLock or LockKind.WriteLock)
            {
                IncrementalValueProvider<ImmutableArray<KeyTemplateUse>> kindTemplates = results
                    .Where(static result => result.TemplateUse is not null)
                    .Select(static (result, _) => result.TemplateUse!)
                    .Collect();
                templates = templates is { } before
                    ? before.Combine(kindTemplates).Select(static (pair, _) => pair.Right.IsEmpty ? pair.Left : pair.Left.AddRange(pair.Right))
                    : kindTemplates;
            }
        }

        IncrementalValueProvider<EquatableArray<HintNameAssignment>> hintNames = requests!.Value
            .Select(static (all, _) => HintNames.Assign(all))
            .WithTrackingName(TrackingNames.HintNames);

        foreach (IncrementalValuesProvider<LockMethodModel> models in modelsByKind)
        {
            IncrementalValuesProvider<GeneratedFile> files = models
                .Combine(hintNames)
                .Select(static (pair, _) => new GeneratedFile(HintNames.Lookup(pair.Right, pair.Left.Identity, pair.Left.BaseHintName), pair.Left))
                .WithTrackingName(TrackingNames.Files);
            context.RegisterSourceOutput(files, static (output, file) => output.AddSource(file.HintName, Emitter.Emit(file.Model)));
        }

        // A key template shared by a plain lock and a reader-writer lock (AL0025): a check across methods, over the small
        // template records only, so an edit that changes no template leaves it cached.
        IncrementalValueProvider<EquatableArray<DiagnosticInfo>> sharedTemplates = templates!.Value
            .Select(static (all, _) => KeyTemplateConflicts.Find(all))
            .WithTrackingName(TrackingNames.KeyTemplates);
        context.RegisterSourceOutput(sharedTemplates, static (output, diagnostics) =>
        {
            foreach (DiagnosticInfo diagnostic in diagnostics.Items)
            {
                output.ReportDiagnostic(diagnostic.ToDiagnostic());
            }
        });
    }
}
