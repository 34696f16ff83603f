using AttributeLock.EtcdFixture;

namespace AttributeLock.Tests;

/// <summary>
/// Tests that compare etcd's leases before and after, or fill etcd with leases: they share an etcd of their own
/// (<see cref="CollectionEtcd"/>), where no other test's leases are counted, and run one after another, beside the
/// other test classes.
/// </summary>
[CollectionDefinition(nameof(LeaseCountingCollection))]
public sealed class LeaseCountingCollection : ICollectionFixture<CollectionEtcd>
{
}
