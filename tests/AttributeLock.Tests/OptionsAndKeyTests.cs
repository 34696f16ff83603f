using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using System.Globalization;
using System.Numerics;
using System.Runtime.InteropServices;

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
        Assert.Equal(expected, AttributeLock.Engine.Session.EtcdConnection.NormalizeEndpoints([given]));

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
    [Theory]
    [InlineData("1", "1")]
    [InlineData("1.0", "1")]
    [InlineData("1.00", "1")]
    [InlineData("-0.000", "0")]
    [InlineData("0.0", "0")]
    [InlineData("100", "100")]
    [InlineData("10.0", "10")]
    [InlineData("-2.500", "-2.5")]
    [InlineData("0.0000000000000000000000000001", "0.0000000000000000000000000001")]
    [InlineData("79228162514264337593543950335", "79228162514264337593543950335")]
    public void Equal_decimals_give_one_segment_without_trailing_zeros(string given, string expected) =>
        Assert.Equal(expected, EtcdLockKeyFormatter.Segment(decimal.Parse(given, CultureInfo.InvariantCulture), "v"));

    [Fact]
    public void Negative_decimal_zero_is_zero()
    {
        decimal negativeZero = new(0, 0, 0, isNegative: true, scale: 2);
        Assert.Equal("0", EtcdLockKeyFormatter.Segment(negativeZero, "v"));
        Assert.Equal("0", EtcdLockKeyFormatter.Segment(decimal.Negate(0m), "v"));
    }

    [Fact]
    public void Floating_zeros_and_nans_give_one_segment_each()
    {
        Assert.Equal("0", EtcdLockKeyFormatter.Segment(-0.0, "v"));
        Assert.Equal("0", EtcdLockKeyFormatter.Segment(-0.0f, "v"));
        Assert.Equal("0", EtcdLockKeyFormatter.Segment(Half.NegativeZero, "v"));
        Assert.Equal("0", EtcdLockKeyFormatter.Segment(NFloat.NegativeZero, "v"));
        Assert.Equal("0", EtcdLockKeyFormatter.Segment<double?>(-0.0, "v"));
        Assert.Equal("<0; 0>", EtcdLockKeyFormatter.Segment(new Complex(-0.0, -0.0), "v"));
        Assert.Equal("<0; 1.5>", EtcdLockKeyFormatter.Segment(new Complex(0.0, 1.5), "v"));
        Assert.Equal("NaN", EtcdLockKeyFormatter.Segment(BitConverter.Int64BitsToDouble(unchecked((long)0xFFF8_0000_0000_0001)), "v"));
        Assert.Equal("NaN", EtcdLockKeyFormatter.Segment(BitConverter.Int64BitsToDouble(0x7FF0_0000_0000_0001), "v"));
        Assert.Equal("NaN", EtcdLockKeyFormatter.Segment(BitConverter.Int32BitsToSingle(unchecked((int)0xFFC0_0001)), "v"));
        Assert.Equal("NaN", EtcdLockKeyFormatter.Segment(BitConverter.Int16BitsToHalf(0x7E01), "v"));
        Assert.Equal("Infinity", EtcdLockKeyFormatter.Segment(double.PositiveInfinity, "v"));
        Assert.Equal("-Infinity", EtcdLockKeyFormatter.Segment(float.NegativeInfinity, "v"));
        Assert.Equal("0.30000000000000004", EtcdLockKeyFormatter.Segment(0.1 + 0.2, "v"));
        Assert.Equal("1E-07", EtcdLockKeyFormatter.Segment(1e-7, "v"));
        Assert.Equal("5E-324", EtcdLockKeyFormatter.Segment(double.Epsilon, "v"));
    }

    [Fact]
    public void One_instant_at_two_offsets_gives_one_segment_in_utc()
    {
        var berlin = new DateTimeOffset(2026, 11, 25, 11, 0, 0, TimeSpan.FromHours(1));
        var newYork = new DateTimeOffset(2026, 11, 25, 5, 0, 0, TimeSpan.FromHours(-5));
        Assert.Equal(berlin, newYork);
        Assert.Equal("2026-11-25T10:00:00.0000000+00:00", EtcdLockKeyFormatter.Segment(berlin, "v"));
        Assert.Equal("2026-11-25T10:00:00.0000000+00:00", EtcdLockKeyFormatter.Segment(newYork, "v"));
        Assert.NotEqual(EtcdLockKeyFormatter.Segment(berlin, "v"), EtcdLockKeyFormatter.Segment(berlin.AddTicks(1), "v"));
    }

    [Fact]
    public void A_DateTime_is_its_wall_clock_reading_whatever_its_kind()
    {
        // DateTime equality compares ticks only; "O" would append Z, the process's own offset (Local) or nothing.
        var utc = new DateTime(2026, 11, 25, 10, 0, 0, DateTimeKind.Utc);
        var local = new DateTime(2026, 11, 25, 10, 0, 0, DateTimeKind.Local);
        var unspecified = new DateTime(2026, 11, 25, 10, 0, 0, DateTimeKind.Unspecified);
        Assert.True(utc == local && local == unspecified);
        Assert.Equal("2026-11-25T10:00:00.0000000", EtcdLockKeyFormatter.Segment(utc, "v"));
        Assert.Equal("2026-11-25T10:00:00.0000000", EtcdLockKeyFormatter.Segment(local, "v"));
        Assert.Equal("2026-11-25T10:00:00.0000000", EtcdLockKeyFormatter.Segment(unspecified, "v"));
        Assert.NotEqual(EtcdLockKeyFormatter.Segment(utc, "v"), EtcdLockKeyFormatter.Segment(utc.AddTicks(1), "v"));
    }

    [Fact]
    public void An_enum_value_with_two_names_gives_the_ordinally_first_name()
    {
        Assert.Equal("Alpha", EtcdLockKeyFormatter.Segment(Aliased.Zed, "v"));
        Assert.Equal("Alpha", EtcdLockKeyFormatter.Segment(Aliased.Alpha, "v"));
        Assert.Equal("Beta", EtcdLockKeyFormatter.Segment(Aliased.Beta, "v"));
        Assert.Equal("7", EtcdLockKeyFormatter.Segment((Aliased)7, "v"));
        Assert.Equal("Scribble", EtcdLockKeyFormatter.Segment(Perm.Write, "v"));
        Assert.Equal("Scribble, Exec", EtcdLockKeyFormatter.Segment(Perm.Write | Perm.Exec, "v"));
        Assert.Equal("ReadWrite", EtcdLockKeyFormatter.Segment(Perm.Read | Perm.Scribble, "v"));
        Assert.Equal("None", EtcdLockKeyFormatter.Segment((Perm)0, "v"));
        Assert.Equal("Read, Exec", EtcdLockKeyFormatter.Segment(Perm.Read | Perm.Exec, "v"));
        Assert.Equal("Friday", EtcdLockKeyFormatter.Segment<DayOfWeek?>(DayOfWeek.Friday, "v"));
    }

    [Fact]
    public void Canonically_equivalent_strings_keep_their_own_segments()
    {
        // Decided: strings stay ordinal (C# string equality); see the remarks of EtcdLockKeyFormatter.
        string nfc = "caf\u00e9", nfd = "cafe\u0301";
        Assert.NotEqual(nfc, nfd);
        Assert.Equal(nfc, EtcdLockKeyFormatter.Segment(nfc, "v"));
        Assert.Equal(nfd, EtcdLockKeyFormatter.Segment(nfd, "v"));
    }

    [Fact]
    public void Property_decimals_share_a_segment_exactly_when_equal()
    {
        var random = new Random(20261126);
        var pool = new List<decimal>();
        for (int i = 0; i < 400; i++)
        {
            pool.Add(new decimal(random.Next(0, 30), 0, 0, random.Next(2) == 0, (byte)random.Next(0, 4)));
        }

        AssertSegmentsMatchEquality(pool);
        for (int i = 0; i < 20000; i++)
        {
            var d = new decimal(random.Next(), random.Next(), random.Next(), random.Next(2) == 0, (byte)random.Next(0, 29));
            string segment = EtcdLockKeyFormatter.Segment(d, "v");
            Assert.Equal(d, decimal.Parse(segment, CultureInfo.InvariantCulture)); // the segment names the value: injective
            Assert.Equal(segment, EtcdLockKeyFormatter.Segment(d * 1.000m, "v"));    // a rescaled twin: same segment
            string negated = d == 0 ? "0" : segment.StartsWith('-') ? segment[1..] : "-" + segment;
            Assert.Equal(negated, EtcdLockKeyFormatter.Segment(-d, "v"));                  // the sign is the only difference
        }
    }

    [Fact]
    public void Property_binary_floats_share_a_segment_exactly_when_equal()
    {
        var random = new Random(20261127);
        var doubles = new List<double> { 0.0, -0.0, double.NaN, -double.NaN, double.PositiveInfinity, double.NegativeInfinity, double.Epsilon, 1.0 };
        var singles = new List<float> { 0f, -0f, float.NaN, float.PositiveInfinity, float.Epsilon };
        var halves = new List<Half> { Half.Zero, Half.NegativeZero, Half.NaN, Half.Epsilon };
        for (int i = 0; i < 20000; i++)
        {
            double d = BitConverter.Int64BitsToDouble(random.NextInt64(long.MinValue, long.MaxValue));
            float f = BitConverter.Int32BitsToSingle(random.Next(int.MinValue, int.MaxValue));
            Half h = BitConverter.Int16BitsToHalf((short)random.Next(short.MinValue, short.MaxValue + 1));
            Assert.True(d.Equals(double.Parse(EtcdLockKeyFormatter.Segment(d, "v"), CultureInfo.InvariantCulture)));
            Assert.True(f.Equals(float.Parse(EtcdLockKeyFormatter.Segment(f, "v"), CultureInfo.InvariantCulture)));
            Assert.True(h.Equals(Half.Parse(EtcdLockKeyFormatter.Segment(h, "v"), CultureInfo.InvariantCulture)));
            if (i < 300)
            {
                doubles.Add(d);
                singles.Add(f);
                halves.Add(h);
            }
        }

        // Equals, not ==: NaN equals NaN (one key for every payload), and -0 equals 0 under both.
        AssertSegmentsMatchEquality(doubles);
        AssertSegmentsMatchEquality(singles);
        AssertSegmentsMatchEquality(halves);
    }

    [Fact]
    public void Property_dates_and_times_share_a_segment_exactly_when_equal()
    {
        var random = new Random(20261128);
        var offsets = new List<DateTimeOffset>();
        var dates = new List<DateTime>();
        long baseTicks = new DateTime(2026, 11, 25).Ticks;
        for (int i = 0; i < 400; i++)
        {
            var instant = new DateTime(baseTicks + random.Next(0, 6) * TimeSpan.TicksPerHour + random.Next(0, 2), DateTimeKind.Utc);
            offsets.Add(new DateTimeOffset(instant).ToOffset(TimeSpan.FromMinutes(15 * random.Next(-14 * 4, 14 * 4 + 1))));
            dates.Add(DateTime.SpecifyKind(instant, (DateTimeKind)random.Next(0, 3)));
        }

        AssertSegmentsMatchEquality(offsets);
        AssertSegmentsMatchEquality(dates);
        for (int i = 0; i < 5000; i++)
        {
            var o = new DateTimeOffset(random.NextInt64(TimeSpan.TicksPerDay, DateTime.MaxValue.Ticks - TimeSpan.TicksPerDay), TimeSpan.FromMinutes(random.Next(-840, 841)));
            Assert.Equal(o, DateTimeOffset.Parse(EtcdLockKeyFormatter.Segment(o, "v"), CultureInfo.InvariantCulture, DateTimeStyles.RoundtripKind));
            var d = new DateTime(random.NextInt64(0, DateTime.MaxValue.Ticks), (DateTimeKind)random.Next(0, 3));
            Assert.Equal(d, DateTime.Parse(EtcdLockKeyFormatter.Segment(d, "v"), CultureInfo.InvariantCulture, DateTimeStyles.RoundtripKind));
        }
    }

    [Fact]
    public void Property_enums_share_a_segment_exactly_when_equal()
    {
        var values = new List<Perm>();
        for (int i = -2; i < 40; i++)
        {
            values.Add((Perm)i);
        }

        values.AddRange([Perm.Write, Perm.Scribble, Perm.ReadWrite, Perm.Read | Perm.Write]);
        AssertSegmentsMatchEquality(values);
        AssertSegmentsMatchEquality(new List<Aliased> { Aliased.Zed, Aliased.Alpha, Aliased.Beta, (Aliased)0, (Aliased)3, (Aliased)(-1) });
    }

    private static void AssertSegmentsMatchEquality<T>(List<T> values)
    {
        var segments = values.Select(v => EtcdLockKeyFormatter.Segment(v, "v")).ToList();
        for (int i = 0; i < values.Count; i++)
        {
            for (int j = 0; j < values.Count; j++)
            {
                bool equal = EqualityComparer<T>.Default.Equals(values[i], values[j]);
                if (equal != (segments[i] == segments[j]))
                {
                    Assert.Fail($"{values[i]} and {values[j]} are {(equal ? "equal" : "not equal")} but give segments '{segments[i]}' and '{segments[j]}'");
                }
            }
        }
    }

    private enum Aliased
    {
        Zed = 1,
        Alpha = 1,
        Beta = 2,
    }

    [Flags]
    private enum Perm
    {
        None = 0,
        Read = 1,
        Write = 2,
        Scribble = 2,
        Exec = 4,
        ReadWrite = 3,
    }
}
