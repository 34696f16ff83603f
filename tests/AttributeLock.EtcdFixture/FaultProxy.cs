using System.Buffers;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Threading.Channels;

namespace AttributeLock.EtcdFixture;

/// <summary>
/// A loopback TCP proxy for fault tests: it listens on a free 127.0.0.1 port, forwards every connection to a target
/// endpoint, and injects network faults at runtime, into the connections already open as well as new ones.
/// </summary>
/// <remarks>
/// <para>Faults (each lasts until <see cref="Heal"/>):</para>
/// <list type="bullet">
/// <item><see cref="Cut"/>: every open connection is reset (RST to both sides) and new connections are accepted and
/// reset at once. Callers see a dead network: connection refused/reset, fast failures.</item>
/// <item><see cref="CutOneWay"/>: one direction stops: its bytes are held (no longer read once the proxy's small
/// buffer is full, so the sender's socket buffer fills and its writes eventually block, as with unacknowledged TCP
/// segments); the sockets stay open and the other direction keeps flowing. At <see cref="Heal"/> the held bytes are
/// delivered, in order, like TCP retransmissions after a partition ends.</item>
/// <item><see cref="BlackHole"/>: bytes (and a close by the sender) are read and silently dropped; the sender never
/// blocks and nothing fails, answers just never come. A connection whose stream lost bytes is reset at
/// <see cref="Heal"/>: TCP never delivers a stream with a gap, so such a connection must not carry on.</item>
/// <item><see cref="SetLatency"/>: every chunk is delivered no earlier than its read time plus the latency, in order.</item>
/// </list>
/// <para>Concurrency invariants:</para>
/// <list type="bullet">
/// <item>Each connection runs four pump tasks: per direction a reader (socket → bounded channel; it never looks at the
/// faults) and a writer (channel → other socket), which is the only place a fault decides a chunk's fate (deliver,
/// delay, hold, drop). So a fault applies to every byte not yet written when it is set, queued bytes included.</item>
/// <item>The faults are one immutable <see cref="Faults"/> snapshot, replaced (never mutated) under <c>_gate</c>. Each
/// snapshot has a <c>Superseded</c> task that completes when a newer one is published: a writer that waits (for a
/// latency deadline or while its direction is held) waits on that task too and re-reads the current snapshot, so a
/// change reaches live connections without a poll.</item>
/// <item>Connection resets (<see cref="Cut"/>, and gapped connections at <see cref="Heal"/>) are pushed, not polled:
/// under <c>_gate</c> the new snapshot is published and the open connections are listed; a new connection is
/// registered under <c>_gate</c> only after checking the snapshot. So a connection is either in the list a cut resets,
/// or sees the cut when it registers and is reset at once; none escapes.</item>
/// <item>Order within a direction is kept: one reader, one FIFO channel, one writer that sends chunk after chunk.</item>
/// <item>Any socket error in a pump aborts the whole connection (RST both ways, all four pumps end); a clean end of
/// stream is passed on as a half-close (shutdown of the send side), and the connection closes when both directions ended.</item>
/// </list>
/// </remarks>
public sealed class FaultProxy : IAsyncDisposable
{
    private const int ChunkSize = 16 * 1024;
    private const int QueuedChunks = 16;

    private readonly object _gate = new();
    private readonly Socket _listener;
    private readonly CancellationTokenSource _stop = new();
    private readonly HashSet<Connection> _connections = new();
    private readonly List<Task> _connectionTasks = new();
    private readonly Task _acceptLoop;
    private readonly long[] _forwarded = new long[2];
    private readonly long[] _dropped = new long[2];
    private volatile Faults _faults = Faults.None;
    private long _accepted;
    private long _refused;
    private long _closed;
    private bool _disposed;

    /// <summary>Starts a proxy to <paramref name="target"/>, an endpoint such as <c>http://127.0.0.1:2379</c> or <c>127.0.0.1:2379</c>.</summary>
    public FaultProxy(string target)
        : this(ParseEndpoint(target))
    {
    }

    /// <summary>Starts a proxy to <paramref name="target"/>.</summary>
    public FaultProxy(IPEndPoint target)
    {
        Target = target;
        _listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        _listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        _listener.Listen(128);
        Port = ((IPEndPoint)_listener.LocalEndPoint!).Port;
        _acceptLoop = Task.Run(AcceptLoopAsync);
    }

    /// <summary>Where the proxy forwards to.</summary>
    public IPEndPoint Target { get; }

    /// <summary>The loopback port the proxy listens on.</summary>
    public int Port { get; }

    /// <summary>The proxy's address as an etcd client endpoint: <c>http://127.0.0.1:port</c>.</summary>
    public string Endpoint => $"http://127.0.0.1:{Port}";

    /// <summary>Connections accepted so far (refused ones included).</summary>
    public long AcceptedConnections => Interlocked.Read(ref _accepted);

    /// <summary>Connections accepted while cut, and reset at once.</summary>
    public long RefusedConnections => Interlocked.Read(ref _refused);

    /// <summary>Forwarded connections that have ended (closed by a side, reset, or cut).</summary>
    public long ClosedConnections => Interlocked.Read(ref _closed);

    /// <summary>Connections being forwarded now (a connection reset by a fault stops counting at once).</summary>
    public int OpenConnections
    {
        get { lock (_gate) { return _connections.Count; } }
    }

    /// <summary>Bytes delivered in <paramref name="direction"/> so far.</summary>
    public long BytesForwarded(Direction direction) => Interlocked.Read(ref _forwarded[(int)direction]);

    /// <summary>Bytes read in <paramref name="direction"/> and dropped by a black hole.</summary>
    public long BytesDropped(Direction direction) => Interlocked.Read(ref _dropped[(int)direction]);

    /// <summary>Resets every open connection and every new one, until <see cref="Heal"/>.</summary>
    public void Cut() => Publish(f => f with { IsCut = true }, resetGapped: false);

    /// <summary>Stops delivering <paramref name="direction"/> (bytes are held, sockets stay open); the other direction flows.</summary>
    public void CutOneWay(Direction direction) => Publish(f => f.With(direction, f.Flow(direction) with { Mode = FlowMode.Hold }), resetGapped: false);

    /// <summary>Silently drops the bytes of <paramref name="direction"/>, or of both directions when <c>null</c>.</summary>
    public void BlackHole(Direction? direction = null) =>
        Publish(f => Each(f, direction, flow => flow with { Mode = FlowMode.Drop }), resetGapped: false);

    /// <summary>Delays every chunk of <paramref name="direction"/> (both when <c>null</c>) by <paramref name="latency"/>.</summary>
    public void SetLatency(TimeSpan latency, Direction? direction = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(latency, TimeSpan.Zero);
        Publish(f => Each(f, direction, flow => flow with { Latency = latency }), resetGapped: false);
    }

    /// <summary>
    /// Back to normal: new connections are forwarded, held bytes are delivered, latency is zero. Connections that lost
    /// bytes to a black hole are reset.
    /// </summary>
    public void Heal() => Publish(_ => Faults.None, resetGapped: true);

    /// <summary>
    /// Serves a connection accepted elsewhere as if this proxy had accepted it (a router in front of several proxies
    /// picks one per connection). The proxy owns <paramref name="client"/> from now on.
    /// </summary>
    public void Adopt(Socket client)
    {
        ArgumentNullException.ThrowIfNull(client);
        Interlocked.Increment(ref _accepted);
        client.NoDelay = true;
        var connection = new Connection(this, client);
        lock (_gate)
        {
            if (!_disposed && !_faults.IsCut)
            {
                _connections.Add(connection);
                _connectionTasks.RemoveAll(t => t.IsCompleted);
                _connectionTasks.Add(Task.Run(connection.RunAsync));
                return;
            }
        }

        Interlocked.Increment(ref _refused);
        Reset(client);
    }

    private static Faults Each(Faults faults, Direction? direction, Func<FlowFaults, FlowFaults> change)
    {
        foreach (Direction d in direction is { } one ? [one] : new[] { Direction.ClientToTarget, Direction.TargetToClient })
        {
            faults = faults.With(d, change(faults.Flow(d)));
        }

        return faults;
    }

    private void Publish(Func<Faults, Faults> change, bool resetGapped)
    {
        Faults old;
        Connection[] toReset;
        lock (_gate)
        {
            old = _faults;
            Faults next = change(old) with { Superseded = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously) };
            _faults = next;
            toReset = next.IsCut ? _connections.ToArray()
                : resetGapped ? _connections.Where(c => c.HasGap).ToArray()
                : [];
            foreach (Connection connection in toReset)
            {
                // Counted as closed now, not when its pumps have wound down: a cut is visible at once.
                Forget(connection);
            }
        }

        // Outside the lock: waiters re-read _faults and resets run socket code. A connection registered after the
        // lock was released saw the new snapshot when it registered.
        old.Superseded.TrySetResult();
        foreach (Connection connection in toReset)
        {
            connection.Abort();
        }
    }

    private async Task AcceptLoopAsync()
    {
        while (true)
        {
            Socket client;
            try
            {
                client = await _listener.AcceptAsync(_stop.Token).ConfigureAwait(false);
            }
            catch (Exception) when (_stop.IsCancellationRequested)
            {
                return;
            }
            catch (SocketException)
            {
                continue; // a connection reset before it was accepted
            }

            Adopt(client);
        }
    }

    private void OnClosed(Connection connection)
    {
        lock (_gate)
        {
            Forget(connection);
        }
    }

    /// <summary>Under <c>_gate</c>: the connection no longer counts as open (once, however it ended).</summary>
    private void Forget(Connection connection)
    {
        if (_connections.Remove(connection))
        {
            Interlocked.Increment(ref _closed);
        }
    }

    /// <summary>Closes with RST (linger 0): the peer sees "connection reset", not an orderly end of stream.</summary>
    private static void Reset(Socket socket)
    {
        try
        {
            socket.LingerState = new LingerOption(true, 0);
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
        }

        socket.Dispose();
    }

    private static IPEndPoint ParseEndpoint(string endpoint)
    {
        Uri uri = new(endpoint.Contains("://", StringComparison.Ordinal) ? endpoint : "tcp://" + endpoint);
        IPAddress address = uri.Host == "localhost" ? IPAddress.Loopback : IPAddress.Parse(uri.Host);
        return new IPEndPoint(address, uri.Port);
    }

    /// <summary>Stops listening, resets every connection and waits for all pumps to end.</summary>
    public async ValueTask DisposeAsync()
    {
        Connection[] open;
        Task[] tasks;
        lock (_gate)
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;
            open = _connections.ToArray();
            tasks = _connectionTasks.ToArray();
        }

        _stop.Cancel();
        _listener.Dispose();
        foreach (Connection connection in open)
        {
            connection.Abort();
        }

        await _acceptLoop.ConfigureAwait(false);
        await Task.WhenAll(tasks).ConfigureAwait(false);
        _faults.Superseded.TrySetResult();
        _stop.Dispose();
    }

    private enum FlowMode
    {
        Forward,
        Hold,
        Drop,
    }

    private sealed record FlowFaults(FlowMode Mode, TimeSpan Latency)
    {
        public static readonly FlowFaults Normal = new(FlowMode.Forward, TimeSpan.Zero);
    }

    /// <summary>The faults in force; immutable, replaced as a whole (see the class remarks).</summary>
    private sealed record Faults(bool IsCut, FlowFaults ClientToTarget, FlowFaults TargetToClient, TaskCompletionSource Superseded)
    {
        public static Faults None => new(false, FlowFaults.Normal, FlowFaults.Normal, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously));

        public FlowFaults Flow(Direction direction) => direction == Direction.ClientToTarget ? ClientToTarget : TargetToClient;

        public Faults With(Direction direction, FlowFaults flow) =>
            direction == Direction.ClientToTarget ? this with { ClientToTarget = flow } : this with { TargetToClient = flow };
    }

    /// <summary>A chunk read from one side; <c>Buffer == null</c> is the sender's end of stream.</summary>
    private readonly record struct Chunk(byte[]? Buffer, int Count, long ReadAt);

    private sealed class Connection
    {
        private readonly FaultProxy _proxy;
        private readonly Socket _client;
        private readonly Socket _target = new(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        private readonly CancellationTokenSource _abort = new();
        private int _aborted;
        private int _gap;

        public Connection(FaultProxy proxy, Socket client)
        {
            _proxy = proxy;
            _client = client;
        }

        /// <summary>Some bytes (or the end of stream) of this connection were dropped by a black hole.</summary>
        public bool HasGap => Volatile.Read(ref _gap) != 0;

        public async Task RunAsync()
        {
            CancellationToken ct = _abort.Token;
            try
            {
                await _target.ConnectAsync(_proxy.Target, ct).ConfigureAwait(false);
                Channel<Chunk> up = NewQueue();
                Channel<Chunk> down = NewQueue();
                await Task.WhenAll(
                    ReadAsync(_client, up.Writer, ct),
                    WriteAsync(up.Reader, _target, Direction.ClientToTarget, ct),
                    ReadAsync(_target, down.Writer, ct),
                    WriteAsync(down.Reader, _client, Direction.TargetToClient, ct)).ConfigureAwait(false);
            }
            catch (Exception)
            {
                Abort();
            }
            finally
            {
                // Both directions ended cleanly (each end of stream was passed on), or the connection was aborted.
                _client.Dispose();
                _target.Dispose();
                _proxy.OnClosed(this);
                _abort.Dispose();
            }
        }

        private static Channel<Chunk> NewQueue() => Channel.CreateBounded<Chunk>(new BoundedChannelOptions(QueuedChunks)
        {
            SingleReader = true,
            SingleWriter = true,
            FullMode = BoundedChannelFullMode.Wait,
        });

        /// <summary>Socket to queue, as fast as the queue takes it; faults are not looked at here.</summary>
        private async Task ReadAsync(Socket from, ChannelWriter<Chunk> queue, CancellationToken ct)
        {
            try
            {
                while (true)
                {
                    byte[] buffer = ArrayPool<byte>.Shared.Rent(ChunkSize);
                    int read = await from.ReceiveAsync(buffer.AsMemory(), SocketFlags.None, ct).ConfigureAwait(false);
                    if (read == 0)
                    {
                        ArrayPool<byte>.Shared.Return(buffer);
                        await queue.WriteAsync(new Chunk(null, 0, Stopwatch.GetTimestamp()), ct).ConfigureAwait(false);
                        queue.Complete();
                        return;
                    }

                    await queue.WriteAsync(new Chunk(buffer, read, Stopwatch.GetTimestamp()), ct).ConfigureAwait(false);
                }
            }
            catch (Exception)
            {
                Abort();
                queue.TryComplete();
            }
        }

        /// <summary>Queue to socket: the one place where the faults decide each chunk's fate.</summary>
        private async Task WriteAsync(ChannelReader<Chunk> queue, Socket to, Direction direction, CancellationToken ct)
        {
            try
            {
                await foreach (Chunk chunk in queue.ReadAllAsync(ct).ConfigureAwait(false))
                {
                    if (!await DeliverAsync(chunk, to, direction, ct).ConfigureAwait(false))
                    {
                        return;
                    }
                }
            }
            catch (Exception)
            {
                Abort();
            }
        }

        /// <returns><c>false</c> when the direction has ended (its end of stream was passed on).</returns>
        private async Task<bool> DeliverAsync(Chunk chunk, Socket to, Direction direction, CancellationToken ct)
        {
            while (true)
            {
                Faults faults = _proxy._faults;
                FlowFaults flow = faults.Flow(direction);
                switch (flow.Mode)
                {
                    case FlowMode.Drop:
                        Volatile.Write(ref _gap, 1);
                        if (chunk.Buffer is null)
                        {
                            // The close is swallowed too: the other side must not learn anything. Stay open until reset.
                            await Task.Delay(Timeout.Infinite, ct).ConfigureAwait(false);
                            return false;
                        }

                        Interlocked.Add(ref _proxy._dropped[(int)direction], chunk.Count);
                        ArrayPool<byte>.Shared.Return(chunk.Buffer);
                        return true;

                    case FlowMode.Hold:
                        await faults.Superseded.Task.WaitAsync(ct).ConfigureAwait(false);
                        continue;
                }

                long due = chunk.ReadAt + (long)(flow.Latency.TotalSeconds * Stopwatch.Frequency);
                TimeSpan wait = Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), due);
                if (wait > TimeSpan.Zero)
                {
                    // Woken early by a change of the faults: decide again under the new ones.
                    await Task.WhenAny(Task.Delay(wait, ct), faults.Superseded.Task).ConfigureAwait(false);
                    ct.ThrowIfCancellationRequested();
                    continue;
                }

                if (chunk.Buffer is null)
                {
                    to.Shutdown(SocketShutdown.Send);
                    return false;
                }

                int sent = 0;
                while (sent < chunk.Count)
                {
                    sent += await to.SendAsync(chunk.Buffer.AsMemory(sent, chunk.Count - sent), SocketFlags.None, ct).ConfigureAwait(false);
                }

                Interlocked.Add(ref _proxy._forwarded[(int)direction], chunk.Count);
                ArrayPool<byte>.Shared.Return(chunk.Buffer);
                return true;
            }
        }

        /// <summary>Resets both sockets and ends all four pumps; idempotent, callable from any thread.</summary>
        public void Abort()
        {
            if (Interlocked.Exchange(ref _aborted, 1) != 0)
            {
                return;
            }

            try
            {
                _abort.Cancel();
            }
            catch (ObjectDisposedException)
            {
            }

            Reset(_client);
            Reset(_target);
        }
    }
}
