namespace AttributeLock.Generators.Models;

/// <summary>A model's wish for a file name.</summary>
/// <param name="Identity">The method's unique identity.</param>
/// <param name="BaseName">The file name without suffix and extension.</param>
internal sealed record HintNameRequest(string Identity, string BaseName);
