using System.Diagnostics.Metrics;
using AttributeLock.EtcdFixture;

namespace AttributeLock.Benchmarks;

/// <summary>What one process of the herd did: its acquisitions and the lock transactions its provider sent.</summary>
public sealed record HerdProcessResult(string Process, long Acquisitions, long Transactions, long Busy, double Seconds);
