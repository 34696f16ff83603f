using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Threading.Channels;

namespace AttributeLock.EtcdFixture;

/// <summary>A direction of the traffic through a <see cref="FaultProxy"/>.</summary>
public enum Direction
{
    /// <summary>From the client that connected to the proxy towards the target (requests).</summary>
    ClientToTarget = 0,

    /// <summary>From the target back to the client (answers).</summary>
    TargetToClient = 1,
}
