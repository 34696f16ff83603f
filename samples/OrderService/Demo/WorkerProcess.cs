using System.Collections.Concurrent;
using System.Diagnostics;

namespace OrderService.Demo;

/// <summary>One worker: this same binary started as <c>OrderService worker ...</c>, controlled through its standard input.</summary>
public sealed class WorkerProcess : IDisposable
{
    private readonly Process _process;
    private readonly ConcurrentQueue<string> _signals = new();

    private WorkerProcess(string name, Process process, bool replacement)
    {
        Name = name;
        _process = process;
        Replacement = replacement;
    }

    /// <summary>The worker's name, for example <c>w1</c>.</summary>
    public string Name { get; }

    /// <summary>The process id.</summary>
    public int Pid => _process.Id;

    /// <summary><c>true</c> while the demo has it stopped with SIGSTOP.</summary>
    public bool Stopped { get; private set; }

    /// <summary><c>true</c> once the demo killed it.</summary>
    public bool Killed { get; private set; }

    /// <summary><c>true</c> when it was started as a replacement of a killed worker.</summary>
    public bool Replacement { get; }

    /// <summary><c>true</c> once the process has exited.</summary>
    public bool HasExited => _process.HasExited;

    /// <summary>The exit code, once exited.</summary>
    public int ExitCode => _process.ExitCode;

    /// <summary>
    /// Starts a worker; its output lines (errors only, normally) are shown prefixed with its name, except its signals
    /// to the coordinator (standard output lines starting with <c>@</c>), which <see cref="TryTakeSignal"/> returns.
    /// </summary>
    /// <param name="name">The worker's name.</param>
    /// <param name="run">The run id.</param>
    /// <param name="load">Start in the load phase.</param>
    /// <param name="orders">Orders of the load phase.</param>
    /// <param name="guardedWrites">Guarded writes (else plain puts: the demo's <c>--unguarded</c>).</param>
    /// <param name="screen">Where its output goes.</param>
    /// <param name="replacement">Started to replace a killed worker.</param>
    /// <returns>The started worker.</returns>
    public static WorkerProcess Start(string name, string run, bool load, int orders, bool guardedWrites, Screen screen, bool replacement = false)
    {
        string host = Environment.ProcessPath ?? throw new InvalidOperationException("Cannot tell this process's executable.");
        var psi = new ProcessStartInfo(host)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        if (Path.GetFileNameWithoutExtension(host) == "dotnet")
        {
            // Started as "dotnet OrderService.dll": start the workers the same way.
            // (Not Assembly.Location: empty in single-file and native builds, and flagged by the AOT analyzers.)
            psi.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, typeof(WorkerProcess).Assembly.GetName().Name + ".dll"));
        }

        foreach (string a in new[] { "worker", "--name", name, "--run", run, "--phase", load ? "load" : "slow", "--orders", orders.ToString(System.Globalization.CultureInfo.InvariantCulture), "--writes", guardedWrites ? "guarded" : "plain" })
        {
            psi.ArgumentList.Add(a);
        }

        Process process = Process.Start(psi) ?? throw new InvalidOperationException($"Could not start worker {name}.");
        var worker = new WorkerProcess(name, process, replacement);
        DataReceivedEventHandler relay = (_, e) =>
        {
            if (e.Data is ['@', ..])
            {
                worker._signals.Enqueue(e.Data);
            }
            else if (!string.IsNullOrWhiteSpace(e.Data))
            {
                screen.Line($"           [{name}] {e.Data}");
            }
        };
        process.OutputDataReceived += relay;
        process.ErrorDataReceived += relay;
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return worker;
    }

    /// <summary>Takes the oldest signal line the worker printed (for example <c>@pause-point ...</c>).</summary>
    /// <param name="signal">The line.</param>
    /// <returns><c>true</c> when there was one.</returns>
    public bool TryTakeSignal(out string signal) => _signals.TryDequeue(out signal!);

    /// <summary>
    /// Stops the process with SIGSTOP: none of its threads runs until <see cref="Resume"/>, so nothing renews its leases,
    /// as in a long GC pause or a frozen VM.
    /// </summary>
    public void Stop()
    {
        Signal("STOP");
        Stopped = true;
    }

    /// <summary>Continues a stopped process with SIGCONT.</summary>
    public void Resume()
    {
        if (Stopped)
        {
            Signal("CONT");
            Stopped = false;
        }
    }

    private void Signal(string signal)
    {
        using Process kill = Process.Start(new ProcessStartInfo("kill") { ArgumentList = { "-s", signal, _process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture) }, UseShellExecute = false })
            ?? throw new InvalidOperationException($"Could not run kill -s {signal}.");
        kill.WaitForExit();
        if (kill.ExitCode != 0)
        {
            throw new InvalidOperationException($"kill -s {signal} {_process.Id} ({Name}) failed with exit code {kill.ExitCode}.");
        }
    }

    /// <summary>Sends one command line (see <c>ControlChannel</c>); ignored once the worker is gone.</summary>
    /// <param name="command">The command.</param>
    public void Send(string command)
    {
        try
        {
            if (!_process.HasExited)
            {
                _process.StandardInput.WriteLine(command);
                _process.StandardInput.Flush();
            }
        }
        catch (IOException)
        {
            // The worker is gone: nothing to tell it.
        }
    }

    /// <summary>Kills the worker with SIGKILL: no finally block, no lease revoke, nothing runs any more.</summary>
    public void KillHard()
    {
        Killed = true;
        _process.Kill(entireProcessTree: false);
    }

    /// <summary>Waits for the process to exit.</summary>
    /// <param name="limit">The longest wait.</param>
    /// <returns><c>true</c> when it exited.</returns>
    public async Task<bool> WaitForExitAsync(TimeSpan limit)
    {
        using var cts = new CancellationTokenSource(limit);
        try
        {
            await _process.WaitForExitAsync(cts.Token);
            return true;
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    /// <inheritdoc />
    public void Dispose()
    {
        if (!_process.HasExited)
        {
            try
            {
                _process.Kill();
            }
            catch (InvalidOperationException)
            {
                // Exited meanwhile.
            }
        }

        _process.Dispose();
    }
}
