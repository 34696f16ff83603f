using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;

namespace AttributeLock.Generators.Tests;

/// <summary>The per-compilation caches the parser uses instead of resolving types and providers per method.</summary>
public sealed class KnownTypesTests
{
    [Fact]
    public void For_is_one_instance_per_compilation_and_resolves_the_well_known_types()
    {
        CSharpCompilation compilation = TestCompilation.Create(TestCompilation.Usings + "public static class Empty { }");
        KnownTypes known = KnownTypes.For(compilation);

        Assert.Same(known, KnownTypes.For(compilation));
        Assert.NotSame(known, KnownTypes.For(compilation.AddSyntaxTrees(CSharpSyntaxTree.ParseText("class Other { }", TestCompilation.ParseOptions))));
        Assert.Equal("AttributeLock.IEtcdLockProvider", known.EtcdLockProvider?.ToDisplayString());
        Assert.Equal("System.Threading.Tasks.Task<TResult>", known.TaskOfT?.ToDisplayString());
        Assert.Equal("System.Threading.Tasks.ValueTask", known.ValueTask?.ToDisplayString());
        Assert.Equal("System.Threading.CancellationToken", known.CancellationToken?.ToDisplayString());
        Assert.Equal("System.IFormattable", known.Formattable?.ToDisplayString());
        Assert.True(KnownTypes.Is(compilation.GetTypeByMetadataName("System.Threading.Tasks.Task`1")!.Construct(compilation.GetSpecialType(SpecialType.System_Int32)), known.TaskOfT));
        Assert.False(KnownTypes.Is(compilation.GetSpecialType(SpecialType.System_Int32), null));
    }

    [Fact]
    public void Providers_of_is_computed_once_per_type_own_members_first_hidden_base_members_left_out()
    {
        CSharpCompilation compilation = TestCompilation.Create(TestCompilation.Usings + """
            public class Base
            {
                protected IEtcdLockProvider Shared = null!;
                protected IEtcdLockProvider Hidden = null!;
                private IEtcdLockProvider _private = null!;
            }

            public partial class Svc : Base
            {
                private static IEtcdLockProvider s_static = null!;
                private new int Hidden = 0;
            }

            public partial class Primary(IEtcdLockProvider locks, int other)
            {
            }
            """);
        KnownTypes known = KnownTypes.For(compilation);
        INamedTypeSymbol provider = known.EtcdLockProvider!;
        INamedTypeSymbol svc = compilation.GetTypeByMetadataName("Svc")!;

        ProviderCandidates candidates = known.ProvidersOf(svc, provider, default);

        Assert.Same(candidates, known.ProvidersOf(svc, provider, default));
        Assert.Equal(["s_static", "Shared"], candidates.Members.Select(m => m.Name));
        Assert.Empty(candidates.PrimaryParameters);
        Assert.Equal(["locks"], known.ProvidersOf(compilation.GetTypeByMetadataName("Primary")!, provider, default).PrimaryParameters.Select(p => p.Name));
    }
}
