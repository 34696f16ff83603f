using System.Text;
using Microsoft.Extensions.DependencyInjection;

namespace AttributeLock.DistributedLock.Tests;

/// <summary>Any name is accepted and maps to its own valid key (the GetSafeName contract).</summary>
public sealed class NameTests : DistributedLockTestBase
{
    private static readonly UTF8Encoding s_strictUtf8 = new(false, true);

    /// <summary>A provider whose engine is never reached: name mapping needs no I/O.</summary>
    private static EtcdDistributedSynchronizationProvider Offline(int? maxKeyBytes = null) =>
        new(new EtcdLockProviderOptions { Endpoints = { "http://127.0.0.1:1" } }, new EtcdDistributedLockOptions { MaxKeyBytes = maxKeyBytes });

    private static void AssertValidKey(EtcdDistributedSynchronizationProvider provider, string key, string name)
    {
        Assert.StartsWith("/distributedlock/", key, StringComparison.Ordinal);
        int bytes = s_strictUtf8.GetByteCount(key); // throws on an unpaired surrogate
        Assert.True(bytes <= provider.MaxKeyBytes, $"key of {bytes} bytes > {provider.MaxKeyBytes} for a name of {name.Length} chars");
    }

    [Fact]
    public void Many_random_names_never_share_a_key_and_every_key_is_valid()
    {
        // A small budget makes many names long enough to be hashed; the alphabet is made of the characters the escaping
        // and the hash marker are built from, so that near-collisions are likely if the mapping were not injective.
        using EtcdDistributedSynchronizationProvider small = Offline(maxKeyBytes: 120), large = Offline();
        var providers = new[] { small, large };
        char[] alphabet = ['a', 'A', '%', '/', '#', 'u', '2', 'F', '5', 'D', '8', '0', '.', ' ', '\0', '\n', '\u007F', '\u0085', '\u00E9',
            '\u20AC', '\uD800', '\uDBFF', '\uDC00', '\uDFFF', '\uFFFD'];
        var random = new Random(1234);
        var names = new HashSet<string>(StringComparer.Ordinal) { "" };
        while (names.Count < 30_000)
        {
            int length = random.Next(8) == 0 ? random.Next(100, 400) : random.Next(0, 40);
            var sb = new StringBuilder(length);
            for (int i = 0; i < length; i++)
            {
                sb.Append(alphabet[random.Next(alphabet.Length)]);
            }

            names.Add(sb.ToString());
        }

        // Long names that differ only in their last character, or only by case, or by one unpaired surrogate.
        string longBase = new('x', 5000);
        foreach (string tail in new[] { "", "y", "Y", "\uD800", "\uDBFF", "\uDC00", "%", "%25", "/", "%2F" })
        {
            names.Add(longBase + tail);
            names.Add(tail + longBase);
        }

        foreach (EtcdDistributedSynchronizationProvider provider in providers)
        {
            var owners = new Dictionary<string, string>(StringComparer.Ordinal);
            int hashed = 0;
            foreach (string name in names)
            {
                string key = provider.GetKey(name);
                AssertValidKey(provider, key, name);
                Assert.Equal(key, provider.GetKey(name)); // stable
                if (owners.TryGetValue(key, out string? other))
                {
                    Assert.Fail($"'{Escape(name)}' and '{Escape(other)}' share the key '{key}'");
                }

                owners.Add(key, name);
                hashed += key.Contains("%#", StringComparison.Ordinal) ? 1 : 0;
            }

            int least = provider.MaxKeyBytes < 200 ? 1000 : 10;
            Assert.True(hashed >= least, $"only {hashed} names were hashed under a budget of {provider.MaxKeyBytes}: the test did not exercise shortening");
        }
    }

    [Fact]
    public void A_name_equal_to_another_names_escaped_or_hashed_key_gets_a_different_key()
    {
        using EtcdDistributedSynchronizationProvider provider = Offline(maxKeyBytes: 200);
        string[] names = ["a/b", "a\uD800", new string('q', 1000)];
        foreach (string name in names)
        {
            string key = provider.GetKey(name);
            string keyText = key["/distributedlock/".Length..];
            Assert.NotEqual(key, provider.GetKey(keyText));
        }

        Assert.Equal("/distributedlock/a%2Fb", provider.GetKey("a/b"));
        Assert.Equal("/distributedlock/a%252Fb", provider.GetKey("a%2Fb"));
        Assert.Equal("/distributedlock/%uD800x", provider.GetKey("\uD800x"));
        Assert.Equal("/distributedlock/\uD83D\uDE00", provider.GetKey("\uD83D\uDE00")); // a paired surrogate stays
        Assert.Equal("/distributedlock/", provider.GetKey(""));
        Assert.Equal("/distributedlock/Caf\u00E9 %00", provider.GetKey("Caf\u00E9 \0"));
    }

    [Fact]
    public void Long_names_are_cut_to_the_budget_and_end_with_their_sha256()
    {
        using EtcdDistributedSynchronizationProvider provider = Offline(maxKeyBytes: 200);
        string key = provider.GetKey(new string('\u20AC', 500)); // 3 UTF-8 bytes each
        Assert.Matches("^/distributedlock/\u20AC+%#[0-9a-f]{64}$", key);
        Assert.True(s_strictUtf8.GetByteCount(key) <= 200);
        Assert.True(s_strictUtf8.GetByteCount(key) > 200 - 3, "the cut keeps as much of the name as fits");

        // A name that just fits is not hashed; one byte more is.
        string fits = new('a', 200 - "/distributedlock/".Length);
        Assert.Equal("/distributedlock/" + fits, provider.GetKey(fits));
        Assert.Contains("%#", provider.GetKey(fits + "a"), StringComparison.Ordinal);

        // An escape sequence is never cut in half.
        string percent = provider.GetKey(new string('%', 300));
        Assert.Matches("^/distributedlock/(%25)+%#[0-9a-f]{64}$", percent);
    }

    [Fact]
    public void Null_name_is_refused_and_bad_options_are_refused_at_construction()
    {
        using EtcdDistributedSynchronizationProvider provider = Offline();
        Assert.Throws<ArgumentNullException>(() => provider.CreateLock(null!));
        Assert.Throws<ArgumentNullException>(() => provider.GetKey(null!));

        using var engine = new EtcdLockProvider(new EtcdLockProviderOptions { Endpoints = { "http://127.0.0.1:1" } });
        Assert.Throws<ArgumentNullException>(() => new EtcdDistributedSynchronizationProvider((IEtcdLockProvider)null!));
        Assert.Throws<ArgumentException>(() => new EtcdDistributedSynchronizationProvider(engine, new EtcdDistributedLockOptions { KeyPrefix = "" }));
        Assert.Throws<ArgumentException>(() => new EtcdDistributedSynchronizationProvider(engine, new EtcdDistributedLockOptions { KeyPrefix = "/x\uD800/" }));
        Assert.Throws<ArgumentOutOfRangeException>(() => new EtcdDistributedSynchronizationProvider(engine, new EtcdDistributedLockOptions { MaxKeyBytes = 60 }));
        Assert.Throws<ArgumentOutOfRangeException>(() => new EtcdDistributedSynchronizationProvider(engine, new EtcdDistributedLockOptions { TtlSeconds = 0 }));

        // Built from the engine's options, the budget may not exceed what the engine allows after its prefix; the default
        // budget is not shrunk to fit (that would change the keys of long names): it must be set explicitly.
        var engineOptions = new EtcdLockProviderOptions { Endpoints = { "http://127.0.0.1:1" }, KeyPrefix = "/p", MaxKeyBytes = 500 };
        using (var owning = new EtcdDistributedSynchronizationProvider(engineOptions, new EtcdDistributedLockOptions { MaxKeyBytes = 498 }))
        {
            Assert.Equal(498, owning.MaxKeyBytes);
        }

        Assert.Throws<ArgumentOutOfRangeException>(() => new EtcdDistributedSynchronizationProvider(engineOptions, new EtcdDistributedLockOptions { MaxKeyBytes = 499 }));
        var tooSmall = Assert.Throws<ArgumentOutOfRangeException>(() => new EtcdDistributedSynchronizationProvider(engineOptions));
        Assert.Contains("set EtcdDistributedLockOptions.MaxKeyBytes to at most 498", tooSmall.Message, StringComparison.Ordinal);
        Assert.Equal(EtcdDistributedLockOptions.DefaultMaxKeyBytes, new EtcdDistributedSynchronizationProvider(engine).MaxKeyBytes);
    }

    [Fact]
    public async Task A_long_name_gets_the_same_key_whichever_way_the_provider_was_built()
    {
        // Two processes that build their providers differently must still exclude each other: the key of a name may not
        // depend on the construction path (over an engine, from engine options, through DI).
        string name = new string('n', 2000) + "/tail";
        var engineOptions = new EtcdLockProviderOptions { Endpoints = { "http://127.0.0.1:1" } };
        await using var engine = new EtcdLockProvider(engineOptions);
        using var overEngine = new EtcdDistributedSynchronizationProvider(engine);
        using var fromOptions = new EtcdDistributedSynchronizationProvider(engineOptions);
        var services = new ServiceCollection();
        services.AddEtcdLocks(o => o.Endpoints.Add("http://127.0.0.1:1"));
        services.AddEtcdDistributedLocks();
        await using ServiceProvider container = services.BuildServiceProvider();
        var fromContainer = container.GetRequiredService<EtcdDistributedSynchronizationProvider>();

        string key = overEngine.GetKey(name);
        Assert.Contains(EtcdLockNames.HashMarker, key, StringComparison.Ordinal);
        Assert.Equal(key, fromOptions.GetKey(name));
        Assert.Equal(key, fromContainer.GetKey(name));
        Assert.Equal(
            [EtcdDistributedLockOptions.DefaultMaxKeyBytes, EtcdDistributedLockOptions.DefaultMaxKeyBytes, EtcdDistributedLockOptions.DefaultMaxKeyBytes],
            new[] { overEngine.MaxKeyBytes, fromOptions.MaxKeyBytes, fromContainer.MaxKeyBytes });
    }

    [Fact]
    public async Task Odd_names_are_real_distinct_locks_in_etcd_and_the_same_lock_across_processes()
    {
        EtcdDistributedSynchronizationProvider a = NewProvider();
        EtcdDistributedSynchronizationProvider b = NewProvider();
        string unique = Guid.NewGuid().ToString("N");
        string longName = unique + new string('x', 10_000);
        string[] names =
        [
            "", unique, unique + "/x", unique + "%2Fx", unique + "\uD800", unique + "\uDBFF", unique + "\uD800\uDC00",
            unique + "\0", unique + "..", longName, longName + "y", longName + "Y", new string('/', 5000) + unique, "\uDC00" + unique,
        ];

        var handles = new List<EtcdDistributedLockHandle>();
        try
        {
            foreach (string name in names)
            {
                EtcdDistributedLockHandle? handle = await a.CreateLock(name).TryAcquireAsync();
                Assert.True(handle is not null, $"could not take '{Escape(name)}' while holding the others: two names share a key");
                handles.Add(handle);
            }

            foreach (string name in names)
            {
                await using EtcdDistributedLockHandle? other = await b.CreateLock(name).TryAcquireAsync();
                Assert.True(other is null, $"another process could take '{Escape(name)}' while it was held");
            }
        }
        finally
        {
            foreach (EtcdDistributedLockHandle handle in handles)
            {
                await handle.DisposeAsync();
            }
        }

        // The empty name is one lock too; take it again now that it is free.
        await using EtcdDistributedLockHandle? again = await b.CreateLock("").TryAcquireAsync(TimeSpan.FromSeconds(10));
        Assert.NotNull(again);
        Assert.Equal(EnginePrefix + "/distributedlock/", again.Key);
    }

    private static string Escape(string s) => s.Length > 60 ? $"{s[..30]}…({s.Length} chars)" : string.Concat(s.Select(c => c < 0x20 || char.IsSurrogate(c) ? $"\\u{(int)c:X4}" : c.ToString()));
}
