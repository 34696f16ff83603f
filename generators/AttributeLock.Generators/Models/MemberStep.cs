namespace AttributeLock.Generators.Models;

/// <summary>One member access in a placeholder path.</summary>
/// <param name="Member">The member name (escaped).</param>
/// <param name="CheckReceiverForNull">Whether the value before the access can be null and must be checked.</param>
/// <param name="ReceiverPath">The path of the value before the access, named in the exception.</param>
internal sealed record MemberStep(string Member, bool CheckReceiverForNull, string ReceiverPath);
