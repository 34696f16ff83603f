namespace AttributeLock.Tests;

/// <summary>
/// Runs alone (<see cref="AdversarialProcessWideTests"/>): one of its tests starves the test host's thread pool on
/// purpose, which would make the short-TTL holds of tests running beside it lose their leases, and the others fail on
/// any unobserved task exception of the process, which tests running beside them could leave behind.
/// </summary>
[CollectionDefinition(nameof(AdversarialCollection), DisableParallelization = true)]
public sealed class AdversarialCollection
{
}
