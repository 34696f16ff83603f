using System;
using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using System.Threading;
using Microsoft.CodeAnalysis;

namespace AttributeLock.Generators.Helpers;

/// <summary>
/// The well-known types the parser compares against, and what it learns about each containing type, resolved
/// once per compilation instead of once per <c>[EtcdLock]</c> method. <see cref="Compilation.GetTypeByMetadataName"/>
/// searches every referenced assembly on each call, so it must not run per method.
/// </summary>
/// <remarks>
/// Lives in a <see cref="ConditionalWeakTable{TKey, TValue}"/> keyed by the compilation: it dies with the
/// compilation and never travels through the incremental pipeline (the models hold plain values only).
/// Every member is safe to use from several threads: a lookup that races runs twice and yields the same value.
/// </remarks>
internal sealed class KnownTypes
{
    private static readonly ConditionalWeakTable<Compilation, KnownTypes> s_cache = new ConditionalWeakTable<Compilation, KnownTypes>();

    private readonly Compilation _compilation;
    private readonly Lazy<INamedTypeSymbol?> _provider;
    private readonly Lazy<INamedTypeSymbol?> _task;
    private readonly Lazy<INamedTypeSymbol?> _taskOfT;
    private readonly Lazy<INamedTypeSymbol?> _valueTask;
    private readonly Lazy<INamedTypeSymbol?> _valueTaskOfT;
    private readonly Lazy<INamedTypeSymbol?> _cancellationToken;
    private readonly Lazy<INamedTypeSymbol?> _formattable;
    private readonly Lazy<INamedTypeSymbol?> _asyncEnumerable;
    private readonly Lazy<INamedTypeSymbol?> _asyncEnumerator;
    private readonly ConcurrentDictionary<INamedTypeSymbol, ProviderCandidates> _providers
        = new ConcurrentDictionary<INamedTypeSymbol, ProviderCandidates>(SymbolEqualityComparer.Default);

    // Nullability is part of the text (string vs string?), so the names are keyed with it.
    private readonly ConcurrentDictionary<ITypeSymbol, string> _typeNames
        = new ConcurrentDictionary<ITypeSymbol, string>(SymbolEqualityComparer.IncludeNullability);

    private readonly ConcurrentDictionary<INamespaceSymbol, string> _namespaceNames
        = new ConcurrentDictionary<INamespaceSymbol, string>(SymbolEqualityComparer.Default);

    private KnownTypes(Compilation compilation)
    {
        _compilation = compilation;
        _provider = Resolve(Symbols.EtcdLockProvider);
        _task = Resolve("System.Threading.Tasks.Task");
        _taskOfT = Resolve("System.Threading.Tasks.Task`1");
        _valueTask = Resolve("System.Threading.Tasks.ValueTask");
        _valueTaskOfT = Resolve("System.Threading.Tasks.ValueTask`1");
        _cancellationToken = Resolve("System.Threading.CancellationToken");
        _formattable = Resolve("System.IFormattable");
        _asyncEnumerable = Resolve("System.Collections.Generic.IAsyncEnumerable`1");
        _asyncEnumerator = Resolve("System.Collections.Generic.IAsyncEnumerator`1");
    }

    /// <summary><c>AttributeLock.IEtcdLockProvider</c>.</summary>
    public INamedTypeSymbol? EtcdLockProvider => _provider.Value;

    /// <summary><c>System.Threading.Tasks.Task</c>.</summary>
    public INamedTypeSymbol? Task => _task.Value;

    /// <summary><c>System.Threading.Tasks.Task&lt;T&gt;</c>.</summary>
    public INamedTypeSymbol? TaskOfT => _taskOfT.Value;

    /// <summary><c>System.Threading.Tasks.ValueTask</c>.</summary>
    public INamedTypeSymbol? ValueTask => _valueTask.Value;

    /// <summary><c>System.Threading.Tasks.ValueTask&lt;T&gt;</c>.</summary>
    public INamedTypeSymbol? ValueTaskOfT => _valueTaskOfT.Value;

    /// <summary><c>System.Threading.CancellationToken</c>.</summary>
    public INamedTypeSymbol? CancellationToken => _cancellationToken.Value;

    /// <summary><c>System.IFormattable</c>.</summary>
    public INamedTypeSymbol? Formattable => _formattable.Value;

    /// <summary><c>System.Collections.Generic.IAsyncEnumerable&lt;T&gt;</c>.</summary>
    public INamedTypeSymbol? AsyncEnumerable => _asyncEnumerable.Value;

    /// <summary><c>System.Collections.Generic.IAsyncEnumerator&lt;T&gt;</c>.</summary>
    public INamedTypeSymbol? AsyncEnumerator => _asyncEnumerator.Value;

    /// <summary>The known types of <paramref name="compilation"/>.</summary>
    public static KnownTypes For(Compilation compilation) => s_cache.GetValue(compilation, static c => new KnownTypes(c));

    /// <summary>Whether <paramref name="type"/>'s definition is <paramref name="known"/> (false when that is missing).</summary>
    public static bool Is(ITypeSymbol type, INamedTypeSymbol? known)
        => known is not null && SymbolEqualityComparer.Default.Equals(type.OriginalDefinition, known);

    /// <summary>
    /// The fields, properties and primary constructor parameters of <paramref name="type"/> (and its bases)
    /// that can give an <c>IEtcdLockProvider</c> to a method of <paramref name="type"/>; computed once per type.
    /// </summary>
    public ProviderCandidates ProvidersOf(INamedTypeSymbol type, INamedTypeSymbol providerType, CancellationToken cancellationToken)
    {
        if (_providers.TryGetValue(type, out ProviderCandidates? candidates))
        {
            return candidates;
        }

        candidates = ProviderCandidates.Find(_compilation, type, providerType, cancellationToken);
        return _providers.GetOrAdd(type, candidates);
    }

    /// <summary>
    /// <paramref name="type"/> as the generated code writes it (<see cref="Symbols.TypeFormat"/>); formatted once per
    /// type: the same few types (int, string, CancellationToken, Task&lt;T&gt;...) recur in every method.
    /// </summary>
    public string TypeName(ITypeSymbol type)
    {
        if (!_typeNames.TryGetValue(type, out string? name))
        {
            name = type.ToDisplayString(Symbols.TypeFormat);
            _typeNames.TryAdd(type, name);
        }

        return name;
    }

    /// <summary><paramref name="ns"/> as the generated code's <c>namespace</c> line writes it (<see cref="Symbols.NamespaceFormat"/>), once per namespace.</summary>
    public string NamespaceName(INamespaceSymbol ns)
    {
        if (!_namespaceNames.TryGetValue(ns, out string? name))
        {
            name = ns.ToDisplayString(Symbols.NamespaceFormat);
            _namespaceNames.TryAdd(ns, name);
        }

        return name;
    }

    private Lazy<INamedTypeSymbol?> Resolve(string metadataName)
    {
        Compilation compilation = _compilation;
        return new Lazy<INamedTypeSymbol?>(() => compilation.GetTypeByMetadataName(metadataName), LazyThreadSafetyMode.PublicationOnly);
    }
}
