namespace AttributeLock.Generators.Models;

/// <summary>The file name given to a model.</summary>
/// <param name="Identity">The method's unique identity.</param>
/// <param name="HintName">The file name, <c>.g.cs</c> included.</param>
internal sealed record HintNameAssignment(string Identity, string HintName);
