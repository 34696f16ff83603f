namespace AttributeLock.Generators.Models;

/// <summary>Literal text of a key template, copied into the key as it is.</summary>
/// <param name="Text">The text.</param>
internal sealed record LiteralKeyPart(string Text) : KeyPart;
