using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace AttributeLock.Tests;

public sealed class OptionsAndKeyTests
{
    [Fact]
    public void AddEtcdLocks_binds_options_from_configuration()
    {
        IConfiguration config = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["EtcdLocks:Endpoints:0"] = "http://127.0.0.1:1",
            ["EtcdLocks:Endpoints:1"] = "http://127.0.0.1:2",
            ["EtcdLocks:KeyPrefix"] = "/svc",
            ["EtcdLocks:Username"] = "locker",
            ["EtcdLocks:Password"] = "s3cret-pw",
            ["EtcdLocks:ConnectTimeout"] = "00:00:03",
            ["EtcdLocks:DefaultTtlSeconds"] = "7",
        }).Build();

        using ServiceProvider sp = new ServiceCollection().AddEtcdLocks(config.GetSection("EtcdLocks")).BuildServiceProvider();
        EtcdLockProviderOptions o = sp.GetRequiredService<IOptions<EtcdLockProviderOptions>>().Value;

        Assert.Equal(["http://127.0.0.1:1", "http://127.0.0.1:2"], o.Endpoints);
        Assert.Equal("/svc", o.KeyPrefix);
        Assert.Equal("locker", o.Username);
        Assert.Equal(TimeSpan.FromSeconds(3), o.ConnectTimeout);
        Assert.Equal(7, o.DefaultTtlSeconds);
        Assert.Same(sp.GetRequiredService<IEtcdLockProvider>(), sp.GetRequiredService<EtcdLockProvider>());
    }

    [Fact]
    public void Options_ToString_never_shows_the_password()
    {
        var o = new EtcdLockProviderOptions { Endpoints = { "http://x:1" }, Username = "u", Password = "s3cret-pw" };
        Assert.DoesNotContain("s3cret-pw", o.ToString());
        Assert.Contains("***", o.ToString());
    }

    [Theory]
    [InlineData("http://a:1,http://b:2", "http://a:1,http://b:2")]
    [InlineData("a:1, b:2", "http://a:1,http://b:2")]
    [InlineData("https://a:1", "https://a:1")]
    public void Endpoints_are_normalised(string given, string expected) =>
        Assert.Equal(expected, EtcdLockProvider.NormalizeEndpoints([given]));

    [Fact]
    public void No_endpoint_is_a_clear_error()
    {
        var ex = Assert.Throws<InvalidOperationException>(() => new EtcdLockProvider(new EtcdLockProviderOptions()));
        Assert.Contains("Endpoints", ex.Message);
    }

    [Theory]
    [InlineData("a/b", "a%2Fb")]
    [InlineData("50%", "50%25")]
    [InlineData("..", "%2E%2E")]
    [InlineData(".", "%2E")]
    [InlineData("a\0b\nc", "a%00b%0Ac")]
    [InlineData("plain-Ünïcode-日本", "plain-Ünïcode-日本")]
    public void Segment_escapes_what_could_leave_the_segment(string value, string expected) =>
        Assert.Equal(expected, EtcdLockKeyFormatter.Segment(value, "v"));

    [Fact]
    public void Segment_formats_culture_invariantly_and_enums_by_name()
    {
        var saved = System.Globalization.CultureInfo.CurrentCulture;
        try
        {
            System.Globalization.CultureInfo.CurrentCulture = new System.Globalization.CultureInfo("de-DE");
            Assert.Equal("1.5", EtcdLockKeyFormatter.Segment(1.5, "d"));
            Assert.Equal("Friday", EtcdLockKeyFormatter.Segment(DayOfWeek.Friday, "e"));
            Assert.Equal("2026-11-25T00:00:00.0000000", EtcdLockKeyFormatter.Segment(new DateTime(2026, 11, 25), "t"));
            Assert.Equal("2026-11-25", EtcdLockKeyFormatter.Segment(new DateOnly(2026, 11, 25), "t"));
        }
        finally
        {
            System.Globalization.CultureInfo.CurrentCulture = saved;
        }
    }

    [Fact]
    public void Segment_rejects_null_and_empty_naming_the_placeholder()
    {
        var n = Assert.Throws<ArgumentNullException>(() => EtcdLockKeyFormatter.Segment<string?>(null, "order.CustomerId"));
        Assert.Equal("order.CustomerId", n.ParamName);
        var e = Assert.Throws<ArgumentException>(() => EtcdLockKeyFormatter.Segment("", "id"));
        Assert.Equal("id", e.ParamName);
    }

    [Fact]
    public void Distinct_values_give_distinct_segments_without_slashes()
    {
        var random = new Random(20261125);
        const string alphabet = "ab/%.\0\n\u00e9\ud83d\ude00\ud800%2F25";
        var seen = new Dictionary<string, string>();
        for (int i = 0; i < 20000; i++)
        {
            int len = random.Next(1, 8);
            var chars = new char[len];
            for (int j = 0; j < len; j++)
            {
                chars[j] = alphabet[random.Next(alphabet.Length)];
            }

            string value = new(chars);
            string segment = EtcdLockKeyFormatter.Segment(value, "v");
            Assert.DoesNotContain('/', segment);
            Assert.DoesNotContain(segment, new[] { ".", ".." });
            if (seen.TryGetValue(segment, out string? other))
            {
                Assert.Equal(other, value);
            }
            else
            {
                seen[segment] = value;
            }
        }

        Assert.True(seen.Count > 1000);
    }
}
