using AttributeLock.Generators.Helpers;

namespace AttributeLock.Generators.Models;

/// <summary>A placeholder of a key template: a parameter, optionally followed by member accesses.</summary>
/// <param name="Root">The parameter's name (escaped).</param>
/// <param name="Path">The placeholder as written, e.g. <c>order.CustomerId</c>.</param>
/// <param name="Steps">The member accesses after the parameter.</param>
internal sealed record PlaceholderKeyPart(string Root, string Path, EquatableArray<MemberStep> Steps) : KeyPart;
