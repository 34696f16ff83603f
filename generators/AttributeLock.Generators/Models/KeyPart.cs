namespace AttributeLock.Generators.Models;

/// <summary>
/// One part of a lock key: a <see cref="LiteralKeyPart"/> or a <see cref="PlaceholderKeyPart"/>. Records
/// compare by value, so the parts keep the models equatable for the incremental pipeline.
/// </summary>
internal abstract record KeyPart;
