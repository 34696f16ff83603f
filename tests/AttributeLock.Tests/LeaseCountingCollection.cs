using Etcdserverpb;

namespace AttributeLock.Tests;

[CollectionDefinition(nameof(LeaseCountingCollection), DisableParallelization = true)]
public sealed class LeaseCountingCollection
{
}
