using System.Diagnostics;
using System.Runtime.InteropServices;
using dotnet_etcd;
using Etcdserverpb;
using Google.Protobuf;
using Grpc.Core;

namespace AttributeLock.Nemesis;

/// <summary>A client OS process (this tool in the <c>client</c> role), with its output in a log file.</summary>
internal sealed class ClientProcess
{
    public const int SIGKILL = 9;
    public const int SIGCONT = 18;
    public const int SIGSTOP = 19;

    private readonly Process _process;
    private ClientProcess(string id, Process process)
    {
        Id = id;
        _process = process;
    }

    public string Id { get; }

    public int Pid => _process.Id;

    [DllImport("libc", SetLastError = true)]
    private static extern int kill(int pid, int sig);

    public static ClientProcess Start(string id, List<string> args, string log)
    {
        string self = Environment.ProcessPath!;
        var psi = new ProcessStartInfo("/bin/sh") { UseShellExecute = false };
        psi.ArgumentList.Add("-c");
        psi.ArgumentList.Add($"exec \"$0\" \"$@\" >>'{log}' 2>&1");
        psi.ArgumentList.Add(self);
        if (Path.GetFileNameWithoutExtension(self) == "dotnet")
        {
            psi.ArgumentList.Add(typeof(ClientProcess).Assembly.Location);
        }

        foreach (string arg in args)
        {
            psi.ArgumentList.Add(arg);
        }

        return new ClientProcess(id, Process.Start(psi)!);
    }

    public void Signal(int sig)
    {
        if (!_process.HasExited)
        {
            kill(_process.Id, sig);
        }
    }

    public async Task<bool> WaitAsync(TimeSpan limit)
    {
        using var cts = new CancellationTokenSource(limit);
        try
        {
            await _process.WaitForExitAsync(cts.Token);
            return true;
        }
        catch (OperationCanceledException)
        {
            return _process.HasExited;
        }
    }

    public void KillIfRunning()
    {
        if (!_process.HasExited)
        {
            kill(_process.Id, SIGCONT);
            kill(_process.Id, SIGKILL);
        }
    }
}
