using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace AttributeLock.EtcdFixture;

/// <summary>
/// A real etcd server for tests: the <c>etcd</c> binary (Debian package etcd-server) started on free loopback ports
/// with a throw-away data dir (on tmpfs when /dev/shm exists). Can be paused, resumed and restarted for fault tests.
/// </summary>
public sealed class EtcdServer : IAsyncDisposable
{
    private static readonly HttpClient s_http = new(new SocketsHttpHandler
    {
        // Health and metrics probes of a TLS test server: the tests check the library's certificate handling, not this.
        SslOptions = { RemoteCertificateValidationCallback = (_, _, _, _) => true },
    }) { Timeout = TimeSpan.FromSeconds(2) };
    private Process? _process;
    private readonly string _name;
    private readonly int _peerPort;
    private readonly int _advertisedPeerPort;
    private readonly bool _ownsDataDir;
    private readonly List<string> _extraArgs;

    private readonly string _initialCluster;
    private readonly System.Text.StringBuilder _log = new();

    private EtcdServer(string name, int clientPort, int peerPort, string dataDir, IEnumerable<string> extraArgs, string? initialCluster = null, int? advertisedPeerPort = null)
    {
        _name = name;
        _initialCluster = initialCluster ?? $"{name}=http://127.0.0.1:{peerPort}";
        ClientPort = clientPort;
        _peerPort = peerPort;
        _advertisedPeerPort = advertisedPeerPort ?? peerPort;
        DataDir = dataDir;
        _ownsDataDir = true;
        _extraArgs = extraArgs.ToList();
    }

    /// <summary>The client URL, e.g. http://127.0.0.1:23791.</summary>
    public string Endpoint => $"{Scheme}://127.0.0.1:{ClientPort}";

    /// <summary>http, or https for a server started with TLS.</summary>
    public string Scheme { get; private init; } = "http";

    public int ClientPort { get; }

    /// <summary>The port the member listens on for its peers (the others may dial a proxy in front of it).</summary>
    public int PeerPort => _peerPort;
    public string DataDir { get; }
    /// <summary>The etcd process's id (not its watchdog shell's).</summary>
    public int? ProcessId => _process is null ? null : _etcdPid.Result;

    private Task<int> _etcdPid = Task.FromResult(0);

    /// <summary>Path of the etcd binary, or null when it is not installed.</summary>
    public static string? FindBinary()
    {
        foreach (string dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':').Append("/usr/bin").Append("/usr/local/bin"))
        {
            string candidate = Path.Combine(dir, "etcd");
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        return null;
    }

    /// <summary>Starts a single-member etcd and waits until it is healthy.</summary>
    public static async Task<EtcdServer> StartAsync(IEnumerable<string>? extraArgs = null, string scheme = "http")
    {
        string baseDir = Directory.Exists("/dev/shm") ? "/dev/shm" : Path.GetTempPath();
        for (int attempt = 1; ; attempt++)
        {
            string dataDir = Path.Combine(baseDir, "attributelock-etcd-" + Guid.NewGuid().ToString("N")[..12]);
            var server = new EtcdServer("t" + Environment.ProcessId, FreePort(), FreePort(), dataDir, extraArgs ?? []) { Scheme = scheme };
            try
            {
                await server.StartProcessAsync().ConfigureAwait(false);
                return server;
            }
            catch (InvalidOperationException ex) when (attempt < 5 && IsPortTaken(ex))
            {
                // A port free when picked was bound by another process (another test host's etcd picking the same
                // port, seen once in a stress run beside other test runs) before our etcd bound it: new ports.
                await server.DisposeAsync().ConfigureAwait(false);
            }
        }
    }

    /// <summary>Starts an etcd cluster of <paramref name="members"/> members on loopback and waits until all are healthy.</summary>
    /// <param name="members">How many members.</param>
    /// <param name="peerFront">
    /// Optional: called, before any member starts, with a member's index and the peer port it listens on; returns the
    /// port the other members are told to dial for it (a proxy in front of the listener, see <see cref="PartitionableCluster"/>).
    /// <c>null</c>: members dial each other's listeners directly.
    /// </param>
    /// <param name="launched">Optional: called once every member's process was started, before they are healthy.</param>
    public static async Task<IReadOnlyList<EtcdServer>> StartClusterAsync(int members = 3, Func<int, int, int>? peerFront = null, Action<IReadOnlyList<EtcdServer>>? launched = null)
    {
        string baseDir = Directory.Exists("/dev/shm") ? "/dev/shm" : Path.GetTempPath();
        for (int attempt = 1; ; attempt++)
        {
            var ports = Enumerable.Range(0, members).Select(_ => (Client: FreePort(), Peer: FreePort())).ToList();
            var advertised = ports.Select((p, i) => peerFront?.Invoke(i, p.Peer) ?? p.Peer).ToList();
            string token = Guid.NewGuid().ToString("N")[..8];
            string initial = string.Join(",", advertised.Select((port, i) => $"m{i}=http://127.0.0.1:{port}"));
            var servers = ports.Select((p, i) => new EtcdServer($"m{i}", p.Client, p.Peer,
                Path.Combine(baseDir, $"attributelock-etcd-{token}-m{i}"), ["--initial-cluster-token", token], initial, advertised[i])).ToList();
            foreach (EtcdServer server in servers)
            {
                server.Launch();
            }

            launched?.Invoke(servers);

            Task healthy = Task.WhenAll(servers.Select(s => s.WaitHealthyAsync()));
            try
            {
                await healthy.ConfigureAwait(false);
                return servers;
            }
            catch (InvalidOperationException) when (IsPortTaken(healthy.Exception))
            {
                // As in StartAsync: a member's port, free when picked, was bound by another process before the member
                // bound it (seen in a stress run beside other test hosts). Stop every member and start a new cluster
                // on new ports. With peerFront the caller owns proxies made for these ports (and disposes the members
                // it was given through launched), so it gets the port's failure, whichever member failed first, and retries itself.
                if (peerFront is not null || attempt >= 5)
                {
                    System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(healthy.Exception!.Flatten().InnerExceptions.First(e => IsPortTaken(e)));
                }

                foreach (EtcdServer server in servers)
                {
                    await server.DisposeAsync().ConfigureAwait(false);
                }
            }
        }
    }

    /// <summary>Whether a start failed because a port was already bound by another process.</summary>
    /// <param name="failure">The start's exception, <c>null</c> when there is none.</param>
    public static bool IsPortTaken(Exception? failure) =>
        failure is not null && (failure is AggregateException all ? all.Flatten().InnerExceptions : [failure])
            .Any(e => e is InvalidOperationException && e.Message.Contains("address already in use", StringComparison.Ordinal));

    private async Task StartProcessAsync()
    {
        Launch();
        await WaitHealthyAsync().ConfigureAwait(false);
    }

    private void Launch()
    {
        string binary = FindBinary() ?? throw new InvalidOperationException(
            "The etcd binary was not found. Install it with 'apt-get update && apt-get install -y etcd-server' (the README's test command and .ci/run do this), or set ETCD_ENDPOINTS to a running etcd.");
        string peer = $"http://127.0.0.1:{_peerPort}";
        string advertisedPeer = $"http://127.0.0.1:{_advertisedPeerPort}";
        // etcd runs under a small shell watchdog that stops it (and removes its data dir) when this (test) process is
        // gone, even when the test host is killed and no cleanup code runs. The shell prints etcd's pid first, for pause/resume signals.
        // The shell itself only waits for etcd (a wait that a signal interrupts at once, unlike a sleep), so it ends as
        // soon as etcd is killed (a restart) or it is told to stop (dispose); a poller beside it, checking once a
        // second, stops etcd when this process is gone (its output goes elsewhere: a sleep it leaves behind must not
        // keep the pipes open that Process.WaitForExitAsync reads to their end).
        var psi = new ProcessStartInfo("/bin/sh")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        psi.ArgumentList.Add("-c");
        psi.ArgumentList.Add(
            "\"$0\" \"$@\" & e=$!; echo \"etcd-pid $e\"; " +
            $"(while kill -0 {Environment.ProcessId} 2>/dev/null; do sleep 1; done; kill $e 2>/dev/null) >/dev/null 2>&1 & w=$!; " +
            $"trap 'kill $w $e 2>/dev/null; wait $e; rm -rf \"{DataDir}\"; exit 0' TERM INT HUP; " +
            "wait $e; kill $w 2>/dev/null; " +
            $"kill -0 {Environment.ProcessId} 2>/dev/null || rm -rf '{DataDir}'");
        psi.ArgumentList.Add(binary);
        foreach (string a in new[]
        {
            "--name", _name, "--data-dir", DataDir,
            "--listen-client-urls", Endpoint, "--advertise-client-urls", Endpoint,
            "--listen-peer-urls", peer, "--initial-advertise-peer-urls", advertisedPeer,
            "--initial-cluster", _initialCluster, "--log-level", "error",
        }.Concat(_extraArgs))
        {
            psi.ArgumentList.Add(a);
        }

        var log = _log;
        var pid = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        _etcdPid = pid.Task;
        _process = Process.Start(psi)!;
        _process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is { } line && line.StartsWith("etcd-pid ", StringComparison.Ordinal) && int.TryParse(line.AsSpan(9), out int id))
            {
                pid.TrySetResult(id);
                return;
            }

            lock (log) { log.AppendLine(e.Data); }
        };
        _process.ErrorDataReceived += (_, e) => { lock (log) { log.AppendLine(e.Data); } };
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
    }

    private async Task WaitHealthyAsync()
    {
        var log = _log;
        var sw = Stopwatch.StartNew();
        while (sw.Elapsed < TimeSpan.FromSeconds(30))
        {
            if (_process is null || _process.HasExited)
            {
                throw new InvalidOperationException($"etcd exited with code {_process?.ExitCode}: {log}");
            }

            if (await IsHealthyAsync().ConfigureAwait(false))
            {
                // A healthy answer proves little if our etcd died (a port taken between the pick and its bind) and
                // another process's etcd answers on that port: our process must be running, and the member ours.
                if (!IsEtcdRunning() || !await AnswersAsOurMemberAsync().ConfigureAwait(false))
                {
                    throw new InvalidOperationException($"etcd '{_name}' is not the one answering at {Endpoint} (its process is {(IsEtcdRunning() ? "running" : "gone")}): {log}");
                }

                return;
            }

            await Task.Delay(100).ConfigureAwait(false);
        }

        throw new TimeoutException($"etcd at {Endpoint} did not become healthy within 30 s: {log}");
    }

    /// <summary>Whether etcd itself (not its watchdog shell) runs: alive and not a zombie.</summary>
    private bool IsEtcdRunning()
    {
        if (!_etcdPid.IsCompleted)
        {
            return true; // not known yet: the health answer came from the shell's child, judged by the name check
        }

        try
        {
            string stat = File.ReadAllText($"/proc/{_etcdPid.Result}/stat");
            char state = stat[stat.LastIndexOf(')') + 2];
            return state != 'Z' && state != 'X';
        }
        catch (IOException)
        {
            return false;
        }
    }

    private async Task<bool> AnswersAsOurMemberAsync()
    {
        try
        {
            using var content = new StringContent("{}");
            using HttpResponseMessage response = await s_http.PostAsync($"{Endpoint}/v3/cluster/member/list", content).ConfigureAwait(false);
            string body = await response.Content.ReadAsStringAsync().ConfigureAwait(false);
            return !response.IsSuccessStatusCode || body.Contains($"\"name\":\"{_name}\"", StringComparison.Ordinal);
        }
        catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
        {
            return true; // no verdict: the health answer stands
        }
    }

    public async Task<bool> IsHealthyAsync()
    {
        try
        {
            string body = await s_http.GetStringAsync($"{Endpoint}/health").ConfigureAwait(false);
            return body.Contains("\"true\"", StringComparison.Ordinal);
        }
        catch (Exception)
        {
            return false;
        }
    }

    /// <summary>Reads one counter from etcd's Prometheus metrics (sum over matching series).</summary>
    public static async Task<double> ReadMetricAsync(string endpoint, string name, string labelFilter = "")
    {
        string text = await s_http.GetStringAsync($"{endpoint.TrimEnd('/')}/metrics").ConfigureAwait(false);
        double sum = 0;
        foreach (string line in text.Split('\n'))
        {
            if (line.StartsWith(name, StringComparison.Ordinal) && (line.Length > name.Length && (line[name.Length] == '{' || line[name.Length] == ' '))
                && line.Contains(labelFilter, StringComparison.Ordinal))
            {
                sum += double.Parse(line[(line.LastIndexOf(' ') + 1)..], System.Globalization.CultureInfo.InvariantCulture);
            }
        }

        return sum;
    }

    /// <summary>Transactions etcd handled successfully so far (failed compares included).</summary>
    public Task<double> TransactionCountAsync() =>
        ReadMetricAsync(Endpoint, "grpc_server_handled_total", "grpc_method=\"Txn\"");

    [DllImport("libc", SetLastError = true)]
    private static extern int kill(int pid, int sig);

    /// <summary>
    /// SIGSTOP: the server stops answering but keeps its connections. Returns only once every thread of etcd is
    /// stopped: kill() returns when the signal is queued, and the kernel stops a multi-threaded process's other threads
    /// only when one of its threads dequeues the signal, so without this wait a request sent right after the signal
    /// could still be answered (measured: a third of the time some thread was still running when kill() returned, for
    /// up to 6 ms on an idle machine, more under load).
    /// </summary>
    public void Pause()
    {
        if (!IsEtcdRunning())
        {
            throw new InvalidOperationException($"etcd '{_name}' is not running: it cannot be paused.");
        }

        Signal(19);
        var sw = Stopwatch.StartNew();
        while (!AllThreadsStopped())
        {
            if (sw.Elapsed > TimeSpan.FromSeconds(10))
            {
                throw new TimeoutException($"etcd '{_name}' was sent SIGSTOP but not all its threads stopped within 10 s.");
            }

            Thread.Sleep(1);
        }
    }

    /// <summary>Whether every thread of the etcd process is in the stopped state ('T' in /proc/pid/task/*/stat).</summary>
    private bool AllThreadsStopped()
    {
        string tasks = $"/proc/{_etcdPid.Result}/task";
        if (!Directory.Exists(tasks))
        {
            throw new InvalidOperationException($"etcd '{_name}' exited while being paused.");
        }

        foreach (string task in Directory.EnumerateDirectories(tasks))
        {
            string stat;
            try
            {
                stat = File.ReadAllText(Path.Combine(task, "stat"));
            }
            catch (IOException)
            {
                continue; // the thread ended
            }

            if (stat[stat.LastIndexOf(')') + 2] != 'T')
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>SIGCONT.</summary>
    public void Resume() => Signal(18);

    private void Signal(int sig)
    {
        if (_process is null || kill(_etcdPid.Result, sig) != 0)
        {
            throw new InvalidOperationException($"Could not send signal {sig} to etcd.");
        }
    }

    /// <summary>Kills the server with SIGKILL (it stays down until <see cref="StartAgainAsync"/>).</summary>
    public Task KillAsync() => StopProcessAsync(keepData: true);

    /// <summary>Starts a killed server again on the same ports and data dir.</summary>
    public Task StartAgainAsync() => StartProcessAsync();

    /// <summary>Kills the server with SIGKILL and starts it again on the same ports and data dir.</summary>
    public async Task RestartAsync(TimeSpan? downtime = null)
    {
        await StopProcessAsync(keepData: true).ConfigureAwait(false);
        if (downtime is { } d)
        {
            await Task.Delay(d).ConfigureAwait(false);
        }

        await StartProcessAsync().ConfigureAwait(false);
    }

    /// <summary>
    /// keepData: SIGKILL etcd itself (a crash; the watchdog then exits and keeps the data dir for a restart).
    /// Otherwise SIGTERM the watchdog, which stops etcd and removes the data dir.
    /// </summary>
    private async Task StopProcessAsync(bool keepData)
    {
        if (_process is { HasExited: false } p)
        {
            int etcdPid = _etcdPid.IsCompletedSuccessfully ? _etcdPid.Result : 0;
            if (etcdPid > 0)
            {
                kill(keepData ? etcdPid : p.Id, keepData ? 9 : 15);
            }

            using var limit = new CancellationTokenSource(TimeSpan.FromSeconds(15));
            try
            {
                await p.WaitForExitAsync(limit.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                p.Kill(entireProcessTree: true);
                await p.WaitForExitAsync().ConfigureAwait(false);
            }
        }

        _process?.Dispose();
        _process = null;
    }

    public async ValueTask DisposeAsync()
    {
        await StopProcessAsync(keepData: false).ConfigureAwait(false);
        if (_ownsDataDir && Directory.Exists(DataDir))
        {
            try
            {
                Directory.Delete(DataDir, recursive: true); // a server killed and never started again
            }
            catch (IOException)
            {
            }
        }
    }

    /// <summary>
    /// A free loopback port below the kernel's ephemeral range: a port from that range (what binding port 0 gives) can
    /// be taken by any outgoing connection of any process in the moment between this check and etcd's bind, which
    /// made parallel test runs fail with "address already in use".
    /// </summary>
    public static int FreePort()
    {
        int low = EphemeralLow();
        if (low > 12000)
        {
            for (int attempt = 0; attempt < 200; attempt++)
            {
                int port = Random.Shared.Next(10000, low);
                try
                {
                    using var probe = new TcpListener(IPAddress.Loopback, port);
                    probe.Start();
                    return port;
                }
                catch (SocketException)
                {
                    // taken: try another
                }
            }
        }

        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private static int EphemeralLow()
    {
        try
        {
            string[] range = File.ReadAllText("/proc/sys/net/ipv4/ip_local_port_range").Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
            return int.Parse(range[0], System.Globalization.CultureInfo.InvariantCulture);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or FormatException or IndexOutOfRangeException)
        {
            return 0;
        }
    }
}
