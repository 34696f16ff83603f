using AttributeLock.Generators.Helpers;
using Microsoft.CodeAnalysis;

namespace AttributeLock.Generators.Models;

/// <summary>A diagnostic reduced to values (see <see cref="LocationInfo"/>).</summary>
/// <param name="Descriptor">The rule; descriptors are singletons, so reference equality is enough.</param>
/// <param name="Location">Where to report it.</param>
/// <param name="MessageArgs">The message's arguments, already formatted.</param>
internal sealed record DiagnosticInfo(DiagnosticDescriptor Descriptor, LocationInfo? Location, EquatableArray<string> MessageArgs)
{
    /// <summary>Creates the diagnostic.</summary>
    public Diagnostic ToDiagnostic() => Diagnostic.Create(Descriptor, Location?.ToLocation() ?? Microsoft.CodeAnalysis.Location.None, MessageArgs.Count == 0 ? null : System.Linq.Enumerable.ToArray<object>(MessageArgs));

    /// <summary>Creates a diagnostic info.</summary>
    public static DiagnosticInfo Create(DiagnosticDescriptor descriptor, LocationInfo? location, params string[] messageArgs)
        => new DiagnosticInfo(descriptor, location, new EquatableArray<string>(messageArgs));
}
