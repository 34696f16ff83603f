using AttributeLock.EtcdFixture;
using dotnet_etcd;
using Etcdserverpb;
using Google.Protobuf;
using Grpc.Core;
using Xunit.Abstractions;

namespace AttributeLock.Faults.Tests;

/// <summary>Timing-sensitive fault tests run alone: two cores are shared, and other tests' load would skew the margins.</summary>
[CollectionDefinition(nameof(ProxyTimingCollection), DisableParallelization = true)]
public sealed class ProxyTimingCollection;
