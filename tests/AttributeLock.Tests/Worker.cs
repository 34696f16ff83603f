using System.Diagnostics;
using AttributeLock.EtcdFixture;
using dotnet_etcd;
using Etcdserverpb;
using Google.Protobuf;

namespace AttributeLock.Tests;

/// <summary>Starts the test worker (a separate OS process).</summary>
public static class Worker
{
    public static Process Start(params string[] args)
    {
        string dll = Path.Combine(AppContext.BaseDirectory, "AttributeLock.TestWorker.dll");
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add(dll);
        foreach (string a in args)
        {
            psi.ArgumentList.Add(a);
        }

        return Process.Start(psi)!;
    }
}
