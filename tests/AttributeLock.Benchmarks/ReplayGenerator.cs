using System.Diagnostics;
using System.Reflection;
using System.Text;
using AttributeLock.Generators;
using Microsoft.CodeAnalysis;

namespace AttributeLock.Benchmarks;

/// <summary>
/// Finds the methods like <see cref="FindOnlyGenerator"/>, then adds the given generated files (text built ahead):
/// Roslyn's cost of taking a generator's output, without the generator's own work.
/// </summary>
internal sealed class ReplayGenerator(string attributeMetadataName, (string HintName, Microsoft.CodeAnalysis.Text.SourceText Text)[] outputs) : IIncrementalGenerator
{
    public void Initialize(IncrementalGeneratorInitializationContext context)
    {
        IncrementalValuesProvider<string> names = context.SyntaxProvider.ForAttributeWithMetadataName(
            attributeMetadataName,
            static (node, _) => node is Microsoft.CodeAnalysis.CSharp.Syntax.MethodDeclarationSyntax,
            static (attributeContext, _) => attributeContext.TargetSymbol.Name);
        context.RegisterSourceOutput(names.Collect(), (spc, _) =>
        {
            foreach ((string hintName, Microsoft.CodeAnalysis.Text.SourceText text) in outputs)
            {
                spc.AddSource(hintName, text);
            }
        });
    }
}
