using System.Diagnostics;
using System.Net.Sockets;
using System.Runtime.CompilerServices;
using System.Text;
using AttributeLock.EtcdFixture;
using dotnet_etcd;
using Etcdserverpb;
using Google.Protobuf;
using Grpc.Core;
using Grpc.Core.Interceptors;

namespace AttributeLock.Tests;

/// <summary>
/// Adversarial review of the rewritten engine: each test is an experiment against a real etcd that tries to get two
/// holders inside at once, a loss never signalled, a leak, a hang or an escaped exception. One class: the tests run one
/// after another (some starve the thread pool or pause their own etcd).
/// </summary>
/// <summary>Runs alone: one of these tests starves the test host's thread pool on purpose, which would make the
/// short-TTL holds of tests running beside it lose their leases.</summary>
[CollectionDefinition(nameof(AdversarialCollection), DisableParallelization = true)]
public sealed class AdversarialCollection
{
}
