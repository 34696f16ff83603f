namespace AttributeLock.Generators.Models;

/// <summary>A containing type's declaration head.</summary>
/// <param name="Keyword">class, struct, interface, record or record struct.</param>
/// <param name="Name">The type's name (escaped if a keyword).</param>
/// <param name="TypeParameters">The type parameter list with variance, e.g. <c>&lt;T&gt;</c>, or empty.</param>
internal sealed record ContainingTypeModel(string Keyword, string Name, string TypeParameters);
