namespace AttributeLock.Generators.Models;

/// <summary>A model with its file name, ready to emit.</summary>
/// <param name="HintName">The file name.</param>
/// <param name="Model">The method.</param>
internal sealed record GeneratedFile(string HintName, LockMethodModel Model);
