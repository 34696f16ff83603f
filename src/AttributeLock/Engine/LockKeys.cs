using System.Text;
using Google.Protobuf;

namespace AttributeLock.Engine;

/// <summary>The rules every provider applies to a lock key: non-empty, valid UTF-16, within the byte budget.</summary>
internal static class LockKeys
{
    private static readonly UTF8Encoding s_strictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    /// <summary>The full key, and its UTF-8 bytes, encoded once (strictly: what cannot be encoded is refused).</summary>
    public static string Build(string prefix, string key, int maxKeyBytes, out ByteString keyBytes)
    {
        ArgumentNullException.ThrowIfNull(key);
        if (key.Length == 0)
        {
            throw new ArgumentException("The lock key is empty.", nameof(key));
        }

        string fullKey = prefix + key;
        byte[] encoded;
        try
        {
            encoded = s_strictUtf8.GetBytes(fullKey);
        }
        catch (EncoderFallbackException)
        {
            // An unpaired surrogate has no UTF-8 form: it would be replaced, and two keys could become one.
            throw new ArgumentException("The lock key contains an unpaired UTF-16 surrogate; EtcdLockKeyFormatter.Segment escapes such values.", nameof(key));
        }

        if (encoded.Length > maxKeyBytes)
        {
            throw new ArgumentException(
                $"The lock key is {encoded.Length} bytes long (prefix included); at most {maxKeyBytes} are allowed (EtcdLockProviderOptions.MaxKeyBytes). Key starts with: '{fullKey[..Math.Min(64, fullKey.Length)]}'.",
                nameof(key));
        }

        keyBytes = UnsafeByteOperations.UnsafeWrap(encoded); // the array is ours alone and never changed
        return fullKey;
    }

    /// <summary>Validates the TTL and wait of one acquire; waits beyond what a timer holds count as unlimited.</summary>
    public static (int Ttl, TimeSpan Wait) Options(EtcdLockOptions? options, int defaultTtl, TimeSpan defaultWait) =>
        Options(options?.TtlSeconds, options?.WaitTimeout, defaultTtl, defaultWait);

    /// <summary>
    /// Validates the TTL and wait of one acquire given as values (a generated wrapper's attribute, without an
    /// <see cref="EtcdLockOptions"/> per call); errors name <c>options</c>, as for the options object.
    /// </summary>
    public static (int Ttl, TimeSpan Wait) Options(int? ttlSeconds, TimeSpan? waitTimeout, int defaultTtl, TimeSpan defaultWait)
    {
        int ttl = ttlSeconds ?? defaultTtl;
        if (ttl < 1)
        {
            throw new ArgumentOutOfRangeException("options", ttl, "The lock's TTL must be at least 1 second.");
        }

        TimeSpan wait = waitTimeout ?? defaultWait;
        if (wait < TimeSpan.Zero && wait != Timeout.InfiniteTimeSpan)
        {
            throw new ArgumentOutOfRangeException("options", wait, "The wait timeout must be zero or positive, or Timeout.InfiniteTimeSpan.");
        }

        return (ttl, wait);
    }

    /// <summary>The longest <see cref="EtcdLockOptions.HoldAtLeast"/>: a lease TTL of <see cref="int.MaxValue"/> seconds.</summary>
    public static readonly TimeSpan MaxHoldAtLeast = TimeSpan.FromSeconds(int.MaxValue);

    /// <summary>Validates the minimum hold of one acquire; <see cref="TimeSpan.Zero"/> when none is asked for.</summary>
    public static TimeSpan HoldAtLeast(EtcdLockOptions? options) => HoldAtLeast(options?.HoldAtLeast);

    /// <summary>Validates a minimum hold given as a value; <see cref="TimeSpan.Zero"/> when none is asked for.</summary>
    public static TimeSpan HoldAtLeast(TimeSpan? holdAtLeast)
    {
        TimeSpan minimum = holdAtLeast ?? TimeSpan.Zero;
        if (minimum < TimeSpan.Zero || minimum > MaxHoldAtLeast)
        {
            throw new ArgumentOutOfRangeException(
                "options",
                minimum,
                $"EtcdLockOptions.HoldAtLeast must be zero or positive and at most {int.MaxValue} seconds (the longest lease TTL); it was {minimum}.");
        }

        return minimum;
    }
}
