using System.Diagnostics;
using AttributeLock.EtcdFixture;

namespace AttributeLock.Tests;

/// <summary>
/// Mistakes in the configuration that only someone can fix are not transient: a TLS/scheme mismatch, a certificate
/// that is not trusted, a host name DNS does not know. The message says what to check.
/// </summary>
public sealed class ConfigurationErrorTests
{
    private static EtcdLockProvider Provider(string endpoint, string? ca = null) =>
        new(new EtcdLockProviderOptions { Endpoints = { endpoint }, TlsCaCertificatePath = ca, ConnectTimeout = TimeSpan.FromSeconds(3), SpareLeases = false });

    [Fact]
    public async Task Https_against_a_plain_text_etcd_is_permanent_and_names_the_scheme()
    {
        string plain = SharedEtcd.First(await SharedEtcd.GetEndpointsAsync());
        await using EtcdLockProvider provider = Provider(plain.Replace("http://", "https://", StringComparison.Ordinal));

        var ex = await Assert.ThrowsAsync<EtcdLockUnavailableException>(async () => await provider.AcquireAsync("/config-error/tls"));

        Console.WriteLine(ex.Message);
        Assert.False(ex.IsTransient, ex.Message);
        Assert.Contains("TLS handshake failed", ex.Message);
        Assert.Contains("scheme", ex.Message);
        Assert.DoesNotContain("a retry may succeed", ex.Message);
    }

    [Fact]
    public async Task A_host_name_dns_does_not_know_is_permanent_and_says_to_check_it()
    {
        await using EtcdLockProvider provider = Provider("http://attributelock-no-such-host.invalid:2379");

        var ex = await Assert.ThrowsAsync<EtcdLockUnavailableException>(async () => await provider.AcquireAsync("/config-error/dns"));

        Console.WriteLine(ex.Message);
        Assert.False(ex.IsTransient, ex.Message);
        Assert.Contains("not known to DNS", ex.Message);
    }

    [Fact]
    public async Task A_server_certificate_the_ca_did_not_sign_is_permanent()
    {
        string dir = Directory.CreateTempSubdirectory("attributelock-config-error-").FullName;
        try
        {
            File.WriteAllText(Path.Combine(dir, "san.ext"), "subjectAltName=IP:127.0.0.1,DNS:localhost\n");
            OpenSsl(dir, "req -x509 -newkey rsa:2048 -nodes -keyout server.key -out server.pem -days 2 -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1");
            OpenSsl(dir, "req -x509 -newkey rsa:2048 -nodes -keyout other-ca.key -out other-ca.pem -days 2 -subj /CN=some-other-ca");
            await using EtcdServer server = await EtcdServer.StartAsync(
                ["--cert-file", Path.Combine(dir, "server.pem"), "--key-file", Path.Combine(dir, "server.key")], scheme: "https");
            await using EtcdLockProvider provider = Provider(server.Endpoint, Path.Combine(dir, "other-ca.pem"));

            var ex = await Assert.ThrowsAsync<EtcdLockUnavailableException>(async () => await provider.AcquireAsync("/config-error/ca"));

            Console.WriteLine(ex.Message);
            Assert.False(ex.IsTransient, ex.Message);
            Assert.Contains("TlsCaCertificatePath", ex.Message);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public async Task A_stopped_etcd_stays_transient()
    {
        int port = EtcdServer.FreePort();
        await using EtcdLockProvider provider = Provider($"http://127.0.0.1:{port}");

        var ex = await Assert.ThrowsAsync<EtcdLockUnavailableException>(async () => await provider.AcquireAsync("/config-error/down"));

        Assert.True(ex.IsTransient, ex.Message);
        Assert.Contains("a retry may succeed", ex.Message);
    }

    private static void OpenSsl(string dir, string args)
    {
        var psi = new ProcessStartInfo("openssl", args) { WorkingDirectory = dir, RedirectStandardError = true, RedirectStandardOutput = true };
        using Process p = Process.Start(psi)!;
        string err = p.StandardError.ReadToEnd();
        p.WaitForExit();
        Assert.True(p.ExitCode == 0, $"openssl {args}: {err}");
    }
}
