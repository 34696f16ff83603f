using AttributeLock.Generators.Helpers;

namespace AttributeLock.Generators.Models
{
    /// <summary>
    /// One part of a key: a literal (<see cref="Steps"/> empty, <see cref="Root"/> null) or a placeholder
    /// (the root parameter plus member accesses).
    /// </summary>
    /// <param name="Literal">The literal text; <c>null</c> for a placeholder.</param>
    /// <param name="Root">The placeholder's parameter (escaped); <c>null</c> for a literal.</param>
    /// <param name="Path">The placeholder as written, e.g. <c>order.CustomerId</c>.</param>
    /// <param name="Steps">The member accesses after the parameter.</param>
    internal sealed record KeyPart(string? Literal, string? Root, string Path, EquatableArray<MemberStep> Steps);
}
