using System.Buffers.Binary;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace AttributeLock.DistributedLock;

/// <summary>Maps any name to a valid etcd lock key, injectively (the GetSafeName of DistributedLock's backends).</summary>
internal static class EtcdLockNames
{
    /// <summary>The marker before the hash of a shortened name; an escaped name never contains it.</summary>
    internal const string HashMarker = "%#";

    /// <summary>Length of the suffix of a shortened name: the marker and 64 hexadecimal digits of SHA-256.</summary>
    internal const int HashSuffixLength = 2 + 64;

    internal static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    /// <summary>Bytes of <paramref name="text"/> in UTF-8, or an <see cref="ArgumentException"/> when it has an unpaired surrogate.</summary>
    internal static int Utf8Length(string text, string paramName)
    {
        try
        {
            return StrictUtf8.GetByteCount(text);
        }
        catch (EncoderFallbackException ex)
        {
            throw new ArgumentException("The text contains an unpaired UTF-16 surrogate, which has no UTF-8 form.", paramName, ex);
        }
    }

    /// <summary>
    /// <paramref name="prefix"/> + the escaped <paramref name="name"/>; when that is longer than
    /// <paramref name="maxKeyBytes"/> UTF-8 bytes, <paramref name="prefix"/> + the start of the escaped name + <c>%#</c> +
    /// the SHA-256 (lowercase hexadecimal) of the name's UTF-16 code units.
    /// </summary>
    internal static string ToKey(string name, string prefix, int prefixBytes, int maxKeyBytes)
    {
        ArgumentNullException.ThrowIfNull(name);
        int budget = maxKeyBytes - prefixBytes;
        var sb = new StringBuilder(prefix.Length + Math.Min(name.Length, budget) + 8);
        sb.Append(prefix);
        int bytes = 0;
        int cut = -1; // sb length where a shortened key's escaped part ends
        int room = budget - HashSuffixLength;
        for (int i = 0; i < name.Length; i++)
        {
            int before = sb.Length;
            char c = name[i];
            int width;
            if (char.IsHighSurrogate(c) && i + 1 < name.Length && char.IsLowSurrogate(name[i + 1]))
            {
                sb.Append(c).Append(name[i + 1]);
                i++;
                width = 4;
            }
            else if (char.IsSurrogate(c))
            {
                // An unpaired surrogate has no UTF-8 form: spell its code unit out.
                sb.Append("%u").Append(((int)c).ToString("X4", CultureInfo.InvariantCulture));
                width = 6;
            }
            else if (c == '%' || c == '/' || char.IsControl(c))
            {
                // Every control character is at most U+009F.
                sb.Append('%').Append(((int)c).ToString("X2", CultureInfo.InvariantCulture));
                width = 3;
            }
            else
            {
                sb.Append(c);
                width = c < 0x80 ? 1 : c < 0x800 ? 2 : 3;
            }

            if (cut < 0 && bytes + width > room)
            {
                cut = before;
            }

            bytes += width;
            if (bytes > budget)
            {
                break;
            }
        }

        if (bytes <= budget)
        {
            return sb.ToString();
        }

        sb.Length = cut;
        sb.Append(HashMarker).Append(Convert.ToHexStringLower(HashUtf16(name)));
        return sb.ToString();
    }

    /// <summary>
    /// SHA-256 of the name's UTF-16 code units, little-endian on every machine. Not of its UTF-8 form: an unpaired
    /// surrogate has none (an encoder would replace it, and two names would hash alike).
    /// </summary>
    private static byte[] HashUtf16(string name)
    {
        byte[] units = new byte[name.Length * 2];
        for (int i = 0; i < name.Length; i++)
        {
            BinaryPrimitives.WriteUInt16LittleEndian(units.AsSpan(i * 2), name[i]);
        }

        return SHA256.HashData(units);
    }
}
