using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace AttributeLock.EtcdFixture;

/// <summary>
/// An etcd cluster whose peer traffic runs through a <see cref="FaultProxy"/> per ordered pair of members, so a link
/// between two members can be cut while both still reach the others (a partial partition, e.g. a follower cut off
/// from the leader only).
/// </summary>
/// <remarks>
/// Each member advertises a peer URL that is a router, not its listener. etcd's peer traffic carries no reliable
/// sender on every connection (raft streams and pipelines name their sender in headers; lease renewals that a follower
/// forwards to the leader do not), so the router asks the kernel instead: it looks up which process owns the other
/// end of the accepted loopback socket (/proc/net/tcp for the socket's inode, then /proc/&lt;pid&gt;/fd of each
/// member), and hands the socket to the proxy of the link (that member → this member). A connection from anyone else
/// (etcdctl, a client in this process) goes to the member directly.
/// <para><see cref="Link"/>(a, b) carries every connection a opens to b's peer URL: a's raft messages to b over
/// pipelines, b's raft messages to a over the streams a reads, a's forwarded lease renewals when b leads. Cutting
/// both links of a pair (<see cref="Isolate"/>) is a symmetric partition between the two members.</para>
/// </remarks>
public sealed class PartitionableCluster : IAsyncDisposable
{
    private readonly FaultProxy[,] _links;
    private readonly FaultProxy[] _direct;
    private readonly List<Router> _routers;
    private readonly System.Collections.Concurrent.ConcurrentQueue<string> _unclassified;

    private PartitionableCluster(IReadOnlyList<EtcdServer> members, FaultProxy[,] links, FaultProxy[] direct, List<Router> routers, System.Collections.Concurrent.ConcurrentQueue<string> unclassified)
    {
        _unclassified = unclassified;
        Members = members;
        _links = links;
        _direct = direct;
        _routers = routers;
    }

    /// <summary>The members; member i is named m<c>i</c>.</summary>
    public IReadOnlyList<EtcdServer> Members { get; }

    /// <summary>The connections member <paramref name="from"/> opens to member <paramref name="to"/>'s peer URL.</summary>
    public FaultProxy Link(int from, int to) =>
        from == to ? throw new ArgumentException("A member does not dial itself.", nameof(to)) : _links[from, to];

    /// <summary>
    /// Peer connections that no member was found to own, routed around the link proxies and still open: expected none.
    /// (A connection that closed before the router looked at it, such as a member's one-shot request at start-up,
    /// has no owner any more; it is routed directly but carries nothing past that point.)
    /// </summary>
    public int OpenUnclassifiedConnections => _direct.Sum(p => p.OpenConnections);

    /// <summary>Why each connection routed directly was not classified, for diagnosis.</summary>
    public IReadOnlyCollection<string> Unclassified => _unclassified;

    /// <summary>Cuts both links between members <paramref name="a"/> and <paramref name="b"/>; each still reaches the others.</summary>
    public void Isolate(int a, int b)
    {
        Link(a, b).Cut();
        Link(b, a).Cut();
    }

    /// <summary>Heals every link.</summary>
    public void HealAll()
    {
        foreach (FaultProxy link in _links)
        {
            link?.Heal();
        }
    }

    /// <summary>Starts the routers and link proxies, then the members, and waits until all are healthy.</summary>
    public static async Task<PartitionableCluster> StartAsync(int members = 3)
    {
        for (int attempt = 1; ; attempt++)
        {
            try
            {
                return await StartOnceAsync(members).ConfigureAwait(false);
            }
            catch (InvalidOperationException ex) when (attempt < 5 && EtcdServer.IsPortTaken(ex))
            {
                // A member's or proxy's port was bound by another process between its pick and its bind; StartOnceAsync
                // disposed everything it started: start again on new ports.
            }
        }
    }

    private static async Task<PartitionableCluster> StartOnceAsync(int members)
    {
        var links = new FaultProxy[members, members];
        var direct = new FaultProxy[members];
        var routers = new List<Router>();
        var unclassified = new System.Collections.Concurrent.ConcurrentQueue<string>();
        var launched = new TaskCompletionSource<IReadOnlyList<EtcdServer>>(TaskCreationOptions.RunContinuationsAsynchronously);
        IReadOnlyList<EtcdServer>? servers = null;
        try
        {
            servers = await EtcdServer.StartClusterAsync(members, (to, listenPort) =>
            {
                var target = new IPEndPoint(IPAddress.Loopback, listenPort);
                direct[to] = new FaultProxy(target);
                for (int from = 0; from < members; from++)
                {
                    if (from != to)
                    {
                        links[from, to] = new FaultProxy(target);
                    }
                }

                var router = new Router(to, links, direct[to], launched.Task, unclassified);
                routers.Add(router);
                return router.Port;
            }, launched: m => launched.TrySetResult(m)).ConfigureAwait(false);
            return new PartitionableCluster(servers, links, direct, routers, unclassified);
        }
        catch
        {
            launched.TrySetResult([]);
            await DisposeAllAsync(servers ?? launched.Task.Result, routers, links, direct).ConfigureAwait(false);
            throw;
        }
    }

    public ValueTask DisposeAsync() => DisposeAllAsync(Members, _routers, _links, _direct);

    private static async ValueTask DisposeAllAsync(IReadOnlyList<EtcdServer> servers, List<Router> routers, FaultProxy[,] links, FaultProxy[] direct)
    {
        foreach (EtcdServer server in servers)
        {
            await server.DisposeAsync().ConfigureAwait(false);
        }

        foreach (Router router in routers)
        {
            await router.DisposeAsync().ConfigureAwait(false);
        }

        foreach (FaultProxy? proxy in links.Cast<FaultProxy?>().Concat(direct))
        {
            if (proxy is not null)
            {
                await proxy.DisposeAsync().ConfigureAwait(false);
            }
        }
    }

    /// <summary>
    /// Listens on a member's advertised peer port and hands each connection, unread, to the proxy of the link from
    /// the member that opened it (found through /proc), or to the direct proxy.
    /// </summary>
    private sealed class Router : IAsyncDisposable
    {
        private readonly int _to;
        private readonly FaultProxy[,] _links;
        private readonly FaultProxy _direct;
        private readonly Task<IReadOnlyList<EtcdServer>> _members;
        private readonly System.Collections.Concurrent.ConcurrentQueue<string> _unclassified;
        private readonly Socket _listener = new(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        private readonly CancellationTokenSource _stop = new();
        private readonly Task _loop;

        /// <param name="members">Completes once every member's process was started (members dial each other before).</param>
        public Router(int to, FaultProxy[,] links, FaultProxy direct, Task<IReadOnlyList<EtcdServer>> members, System.Collections.Concurrent.ConcurrentQueue<string> unclassified)
        {
            _unclassified = unclassified;
            _to = to;
            _links = links;
            _direct = direct;
            _members = members;
            _listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
            _listener.Listen(128);
            Port = ((IPEndPoint)_listener.LocalEndPoint!).Port;
            _loop = Task.Run(LoopAsync);
        }

        public int Port { get; }

        private async Task LoopAsync()
        {
            var routing = new List<Task>();
            while (true)
            {
                Socket socket;
                try
                {
                    socket = await _listener.AcceptAsync(_stop.Token).ConfigureAwait(false);
                }
                catch (Exception) when (_stop.IsCancellationRequested)
                {
                    break;
                }
                catch (SocketException)
                {
                    continue;
                }

                routing.RemoveAll(t => t.IsCompleted);
                routing.Add(Task.Run(() => RouteAsync(socket)));
            }

            await Task.WhenAll(routing).ConfigureAwait(false);
        }

        private async Task RouteAsync(Socket socket)
        {
            // A member may dial before the last one was launched: wait for all pids (bounded by the launch itself).
            IReadOnlyList<EtcdServer> members = await _members.ConfigureAwait(false);
            int? from = FindMember(socket, members, out string? why);
            if (from is { } f && f != _to)
            {
                _links[f, _to].Adopt(socket);
                return;
            }

            _unclassified.Enqueue($"to m{_to}: {why ?? "from itself"}");
            _direct.Adopt(socket);
        }

        /// <summary>The index of the member whose process owns the other end of <paramref name="accepted"/>, if any.</summary>
        private static int? FindMember(Socket accepted, IReadOnlyList<EtcdServer> members, out string? why)
        {
            try
            {
                var remote = (IPEndPoint)accepted.RemoteEndPoint!;
                string? inode = FindPeerInode(remote, (IPEndPoint)accepted.LocalEndPoint!);
                if (inode is null or "0")
                {
                    why = $"from {remote}: its socket is closed already (inode {inode ?? "none"})";
                    return null;
                }

                string link = $"socket:[{inode}]";
                for (int i = 0; i < members.Count; i++)
                {
                    if (members[i].ProcessId is { } pid && OwnsSocket(pid, link))
                    {
                        why = null;
                        return i;
                    }
                }

                why = $"from {remote}: socket {inode} is not a member's";
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or SocketException or ObjectDisposedException)
            {
                // The process or the socket went away meanwhile: route directly.
                why = ex.Message;
            }

            return null;
        }

        private static bool OwnsSocket(int pid, string link)
        {
            foreach (string fd in Directory.EnumerateFiles($"/proc/{pid}/fd"))
            {
                try
                {
                    if (new FileInfo(fd).LinkTarget == link)
                    {
                        return true;
                    }
                }
                catch (IOException)
                {
                    // The descriptor closed while we looked.
                }
            }

            return false;
        }

        /// <summary>The inode of the socket whose local end is <paramref name="local"/> and remote end <paramref name="remote"/>.</summary>
        private static string? FindPeerInode(IPEndPoint local, IPEndPoint remote)
        {
            string want = Hex(local) + " " + Hex(remote);
            foreach (string line in File.ReadLines("/proc/net/tcp").Skip(1))
            {
                string[] fields = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                if (fields.Length > 9 && fields[1] + " " + fields[2] == want)
                {
                    return fields[9];
                }
            }

            return null;
        }

        /// <summary>/proc/net/tcp's form of an IPv4 endpoint: the address as a host-order (little-endian) hex word, then the port.</summary>
        private static string Hex(IPEndPoint endpoint)
        {
            byte[] a = endpoint.Address.MapToIPv4().GetAddressBytes();
            return string.Create(CultureInfo.InvariantCulture, $"{a[3]:X2}{a[2]:X2}{a[1]:X2}{a[0]:X2}:{endpoint.Port:X4}");
        }

        public async ValueTask DisposeAsync()
        {
            _stop.Cancel();
            _listener.Dispose();
            await _loop.ConfigureAwait(false);
            _stop.Dispose();
        }
    }
}
