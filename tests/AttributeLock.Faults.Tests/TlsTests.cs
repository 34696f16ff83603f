using System.Diagnostics;
using AttributeLock.EtcdFixture;

namespace AttributeLock.Faults.Tests;

public sealed class TlsTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("attributelock-tls-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private void OpenSsl(string args)
    {
        var psi = new ProcessStartInfo("openssl", args) { WorkingDirectory = _dir, RedirectStandardError = true, RedirectStandardOutput = true };
        using Process p = Process.Start(psi)!;
        string err = p.StandardError.ReadToEnd();
        p.WaitForExit();
        Assert.True(p.ExitCode == 0, $"openssl {args}: {err}");
    }

    /// <summary>Makes a CA and a server certificate for 127.0.0.1 signed by it, plus a second, unrelated CA.</summary>
    private void MakeCertificates()
    {
        File.WriteAllText(Path.Combine(_dir, "san.ext"), "subjectAltName=IP:127.0.0.1,DNS:localhost\n");
        OpenSsl("req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2 -subj /CN=attributelock-test-ca");
        OpenSsl("req -x509 -newkey rsa:2048 -nodes -keyout other-ca.key -out other-ca.pem -days 2 -subj /CN=some-other-ca");
        OpenSsl("req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj /CN=127.0.0.1");
        OpenSsl("x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem -days 2 -extfile san.ext");
    }

    [Fact]
    public async Task Connects_with_the_right_ca_and_refuses_otherwise()
    {
        MakeCertificates();
        await using EtcdServer server = await EtcdServer.StartAsync(
            ["--cert-file", Path.Combine(_dir, "server.pem"), "--key-file", Path.Combine(_dir, "server.key")], scheme: "https");

        await using (var provider = new EtcdLockProvider(new EtcdLockProviderOptions
        {
            Endpoints = { $"127.0.0.1:{server.ClientPort}" },
            TlsCaCertificatePath = Path.Combine(_dir, "ca.pem"),
            ConnectTimeout = TimeSpan.FromSeconds(3),
        }))
        {
            await using EtcdLockHandle handle = await provider.AcquireAsync("/tls", new EtcdLockOptions { TtlSeconds = 3 });
            Assert.True(handle.FencingToken > 0);
        }

        await using (var wrongCa = new EtcdLockProvider(new EtcdLockProviderOptions
        {
            Endpoints = { server.Endpoint },
            TlsCaCertificatePath = Path.Combine(_dir, "other-ca.pem"),
            ConnectTimeout = TimeSpan.FromSeconds(3),
        }))
        {
            var ex = await Assert.ThrowsAsync<EtcdLockUnavailableException>(async () => await wrongCa.AcquireAsync("/tls"));
            Assert.Contains("SSL", ex.ToString());
        }

        await using (var systemTrust = new EtcdLockProvider(new EtcdLockProviderOptions
        {
            Endpoints = { server.Endpoint }, // https:// without our CA: the system store does not trust the test CA
            ConnectTimeout = TimeSpan.FromSeconds(3),
        }))
        {
            var ex = await Assert.ThrowsAsync<EtcdLockUnavailableException>(async () => await systemTrust.AcquireAsync("/tls"));
            Assert.Contains("SSL", ex.ToString());
        }
    }
}
