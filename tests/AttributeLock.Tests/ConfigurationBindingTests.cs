using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace AttributeLock.Tests;

/// <summary>
/// Options bound from real configuration sources through the library's (source-generated) binder: every option, and
/// <c>Endpoints</c> given as one comma-separated value, the way containers set it in one environment variable.
/// </summary>
public sealed class ConfigurationBindingTests
{
    private static EtcdLockProviderOptions Bound(IConfiguration configuration)
    {
        using ServiceProvider sp = new ServiceCollection().AddEtcdLocks(configuration.GetSection("EtcdLocks")).BuildServiceProvider();
        return sp.GetRequiredService<IOptions<EtcdLockProviderOptions>>().Value;
    }

    [Fact]
    public void Every_option_is_bound()
    {
        // The TLS files must exist: the options are validated when they are read.
        string dir = Directory.CreateTempSubdirectory("attributelock-binding-").FullName;
        string ca = Path.Combine(dir, "ca.pem"), cert = Path.Combine(dir, "c.pem"), key = Path.Combine(dir, "k.pem");
        File.WriteAllText(ca, "");
        File.WriteAllText(cert, "");
        File.WriteAllText(key, "");
        IConfiguration config = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["EtcdLocks:Endpoints:0"] = "http://127.0.0.1:1",
            ["EtcdLocks:KeyPrefix"] = "/fleet",
            ["EtcdLocks:Username"] = "u",
            ["EtcdLocks:Password"] = "p",
            ["EtcdLocks:TlsCaCertificatePath"] = ca,
            ["EtcdLocks:TlsClientCertificatePath"] = cert,
            ["EtcdLocks:TlsClientKeyPath"] = key,
            ["EtcdLocks:ConnectTimeout"] = "00:00:02.5",
            ["EtcdLocks:DefaultTtlSeconds"] = "9",
            ["EtcdLocks:MaxKeyBytes"] = "100",
            ["EtcdLocks:SpareLeases"] = "false",
        }).Build();

        EtcdLockProviderOptions o = Bound(config);

        Assert.Equal(["http://127.0.0.1:1"], o.Endpoints);
        Assert.Equal("/fleet", o.KeyPrefix);
        Assert.Equal("u", o.Username);
        Assert.Equal("p", o.Password);
        Directory.Delete(dir, recursive: true);
        Assert.Equal(ca, o.TlsCaCertificatePath);
        Assert.Equal(cert, o.TlsClientCertificatePath);
        Assert.Equal(key, o.TlsClientKeyPath);
        Assert.Equal(TimeSpan.FromMilliseconds(2500), o.ConnectTimeout);
        Assert.Equal(9, o.DefaultTtlSeconds);
        Assert.Equal(100, o.MaxKeyBytes);
        Assert.False(o.SpareLeases);
        Assert.True(new EtcdLockProviderOptions().SpareLeases); // on by default
    }

    [Fact]
    public void One_environment_variable_with_comma_separated_endpoints_is_bound()
    {
        string prefix = $"ALTEST_{Guid.NewGuid():N}_";
        Environment.SetEnvironmentVariable(prefix + "EtcdLocks__Endpoints", "http://a:2379, http://b:2379");
        Environment.SetEnvironmentVariable(prefix + "EtcdLocks__KeyPrefix", "/env");
        try
        {
            IConfiguration config = new ConfigurationBuilder().AddEnvironmentVariables(prefix).Build();
            EtcdLockProviderOptions o = Bound(config);
            Assert.Equal(["http://a:2379", "http://b:2379"], o.Endpoints);
            Assert.Equal("/env", o.KeyPrefix);
        }
        finally
        {
            Environment.SetEnvironmentVariable(prefix + "EtcdLocks__Endpoints", null);
            Environment.SetEnvironmentVariable(prefix + "EtcdLocks__KeyPrefix", null);
        }
    }

    [Fact]
    public void A_flat_value_on_Endpoints_replaces_a_list_from_an_earlier_source()
    {
        IConfiguration config = new ConfigurationBuilder()
            .AddInMemoryCollection(new Dictionary<string, string?> { ["EtcdLocks:Endpoints:0"] = "http://file:2379" })
            .AddInMemoryCollection(new Dictionary<string, string?> { ["EtcdLocks:Endpoints"] = "http://a:2379,http://b:2379" })
            .Build();

        Assert.Equal(["http://a:2379", "http://b:2379"], Bound(config).Endpoints);
    }

    [Fact]
    public void BindEtcdLockOptions_binds_without_dependency_injection()
    {
        IConfiguration config = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Endpoints"] = "http://a:2379,http://b:2379",
            ["DefaultTtlSeconds"] = "4",
        }).Build();

        EtcdLockProviderOptions o = config.BindEtcdLockOptions(new EtcdLockProviderOptions { KeyPrefix = "/kept" });

        Assert.Equal(["http://a:2379", "http://b:2379"], o.Endpoints);
        Assert.Equal(4, o.DefaultTtlSeconds);
        Assert.Equal("/kept", o.KeyPrefix);
    }
}
