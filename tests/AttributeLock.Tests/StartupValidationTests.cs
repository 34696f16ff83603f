using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace AttributeLock.Tests;

/// <summary>
/// <c>AddEtcdLocks</c> validates its options when the host starts (what a Generic Host runs at start is the container's
/// <see cref="IStartupValidator"/>): a bad setting stops the start with a message naming its configuration path and value,
/// instead of passing the start and failing the first locked request.
/// </summary>
public sealed class StartupValidationTests
{
    private static ServiceProvider FromConfiguration(params (string Key, string? Value)[] settings)
    {
        IConfiguration configuration = new ConfigurationBuilder()
            .AddInMemoryCollection(settings.Select(s => new KeyValuePair<string, string?>(s.Key, s.Value)))
            .Build();
        return new ServiceCollection().AddEtcdLocks(configuration.GetSection("EtcdLocks")).BuildServiceProvider();
    }

    private static OptionsValidationException StartFails(ServiceProvider sp) =>
        Assert.Throws<OptionsValidationException>(() => sp.GetRequiredService<IStartupValidator>().Validate());

    [Fact]
    public void An_endpoint_with_a_bad_port_stops_the_start_naming_its_path_and_value()
    {
        using ServiceProvider sp = FromConfiguration(("EtcdLocks:Endpoints:0", "localhost:2379x"));

        OptionsValidationException ex = StartFails(sp);

        Assert.Contains("EtcdLocks:Endpoints:0", ex.Message);
        Assert.Contains("'localhost:2379x'", ex.Message);
        Assert.Contains("port", ex.Message);
    }

    [Fact]
    public void No_endpoint_stops_the_start_naming_where_to_set_one()
    {
        using ServiceProvider sp = FromConfiguration(("EtcdLocks:KeyPrefix", "/app"));

        OptionsValidationException ex = StartFails(sp);

        Assert.Contains("No etcd endpoint is configured", ex.Message);
        Assert.Contains("EtcdLocks:Endpoints:0", ex.Message);
        Assert.Contains("EtcdLocks__Endpoints", ex.Message);
    }

    [Fact]
    public void A_zero_ttl_stops_the_start_naming_its_path_and_value()
    {
        using ServiceProvider sp = FromConfiguration(("EtcdLocks:Endpoints:0", "http://127.0.0.1:2379"), ("EtcdLocks:DefaultTtlSeconds", "0"));

        OptionsValidationException ex = StartFails(sp);

        Assert.Contains("EtcdLocks:DefaultTtlSeconds = 0", ex.Message);
    }

    [Fact]
    public void A_comma_separated_value_names_its_own_key_and_the_bad_part()
    {
        using ServiceProvider sp = FromConfiguration(("EtcdLocks:Endpoints", "http://a:2379, b:23x79"));

        OptionsValidationException ex = StartFails(sp);

        Assert.Contains("EtcdLocks:Endpoints = 'b:23x79'", ex.Message);
        Assert.DoesNotContain("'http://a:2379'", ex.Message);
    }

    [Fact]
    public void A_missing_ca_file_stops_the_start()
    {
        using ServiceProvider sp = FromConfiguration(("EtcdLocks:Endpoints:0", "https://127.0.0.1:2379"), ("EtcdLocks:TlsCaCertificatePath", "/nonexistent/ca.pem"));

        OptionsValidationException ex = StartFails(sp);

        Assert.Contains("EtcdLocks:TlsCaCertificatePath = '/nonexistent/ca.pem': no such file", ex.Message);
    }

    [Fact]
    public void Options_set_in_code_are_named_by_their_property()
    {
        using ServiceProvider sp = new ServiceCollection().AddEtcdLocks(o => o.Endpoints.Add("ftp://127.0.0.1:2379")).BuildServiceProvider();

        OptionsValidationException ex = StartFails(sp);

        Assert.Contains("EtcdLockProviderOptions.Endpoints[0] = 'ftp://127.0.0.1:2379'", ex.Message);
    }

    [Fact]
    public void Valid_options_pass_and_are_not_reported_twice_when_registered_twice()
    {
        var services = new ServiceCollection();
        services.AddEtcdLocks(o => o.Endpoints.Add("127.0.0.1:2379,http://[::1]:2379"));
        services.AddEtcdLocks();
        using ServiceProvider sp = services.BuildServiceProvider();

        sp.GetRequiredService<IStartupValidator>().Validate();
        Assert.Single(sp.GetServices<IValidateOptions<EtcdLockProviderOptions>>().OfType<EtcdLockProviderOptionsValidator>());
    }

    [Fact]
    public void A_provider_built_directly_names_the_bad_value()
    {
        var ex = Assert.Throws<ArgumentException>(() => new EtcdLockProvider(new EtcdLockProviderOptions { Endpoints = { "localhost:2379x" } }));

        Assert.Contains("EtcdLockProviderOptions.Endpoints[0] = 'localhost:2379x'", ex.Message);
    }
}
