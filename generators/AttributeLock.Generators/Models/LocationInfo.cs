using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Text;

namespace AttributeLock.Generators.Models;

/// <summary>
/// A source location reduced to values, so that diagnostics can travel through the incremental pipeline
/// without holding a <see cref="SyntaxTree"/>.
/// </summary>
/// <param name="FilePath">The syntax tree's file path.</param>
/// <param name="TextSpan">The span in the file's text.</param>
/// <param name="LineSpan">The same span as lines and columns.</param>
internal sealed record LocationInfo(string FilePath, TextSpan TextSpan, LinePositionSpan LineSpan)
{
    /// <summary>Rebuilds a <see cref="Location"/>.</summary>
    public Location ToLocation() => Location.Create(FilePath, TextSpan, LineSpan);

    /// <summary>Captures a span of <paramref name="tree"/>.</summary>
    public static LocationInfo From(SyntaxTree tree, TextSpan span)
        => new LocationInfo(tree.FilePath, span, tree.GetLineSpan(span).Span);

    /// <summary>Captures a node's or token's location; <c>null</c> for locations outside source.</summary>
    public static LocationInfo? From(Location? location)
        => location is { SourceTree: { } tree } ? From(tree, location.SourceSpan) : null;
}
