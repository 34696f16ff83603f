using System.Diagnostics;
using System.Reflection;
using System.Text;
using AttributeLock.Generators;
using Microsoft.CodeAnalysis;

namespace AttributeLock.Benchmarks;

/// <summary>
/// A generator that finds the methods with an attribute the way <see cref="EtcdLockGenerator"/> (or the LoggerMessage
/// generator) does and does nothing else: what Roslyn itself costs to find them, the floor under the real generator.
/// </summary>
internal sealed class FindOnlyGenerator(string attributeMetadataName) : IIncrementalGenerator
{
    public void Initialize(IncrementalGeneratorInitializationContext context)
    {
        IncrementalValuesProvider<string> names = context.SyntaxProvider.ForAttributeWithMetadataName(
            attributeMetadataName,
            static (node, _) => node is Microsoft.CodeAnalysis.CSharp.Syntax.MethodDeclarationSyntax,
            static (attributeContext, _) => attributeContext.TargetSymbol.Name);
        context.RegisterSourceOutput(names.Collect(), static (_, _) => { });
    }
}
