using System.Collections.Concurrent;
using System.ComponentModel;
using System.Globalization;
using System.Numerics;
using System.Runtime.InteropServices;
using System.Text;

namespace AttributeLock;

/// <summary>
/// Turns argument values into lock-key segments. Used by generated wrappers; public so that hand-written
/// code can build keys the same way.
/// </summary>
/// <remarks>
/// <para>
/// A segment is the value's culture-invariant text with <c>/</c>, <c>%</c>, control characters and unpaired
/// surrogates percent-encoded, and a segment of only dots (<c>.</c>, <c>..</c>) encoded whole. Because <c>%</c>
/// itself is encoded, escaping is injective: two different texts never give the same segment, and no value can add
/// a <c>/</c> to the key, so no value leaves the template's prefix.
/// </para>
/// <para>
/// The text is canonical where the type's own equality has one obvious canonical form, so that equal values share
/// a key (and exclude each other) and values that are not equal never do:
/// </para>
/// <list type="bullet">
/// <item><description><see cref="decimal"/>: without trailing zeros and without the sign of zero
/// (<c>1m</c>, <c>1.0m</c>, <c>1.00m</c> → <c>1</c>; <c>-0.00m</c> → <c>0</c>).</description></item>
/// <item><description><see cref="double"/>, <see cref="float"/>, <see cref="Half"/>, <see cref="NFloat"/>
/// (and the parts of a <see cref="Complex"/>): the shortest round-trip text, except that <c>-0</c> is <c>0</c>
/// and every NaN is <c>NaN</c> (values that <c>Equals</c> calls equal share a key).</description></item>
/// <item><description><see cref="DateTimeOffset"/>: the instant, in UTC, round-trip format
/// (<c>2026-11-25T10:00:00.0000000+00:00</c>): one instant written at two offsets is one key, as
/// <see cref="DateTimeOffset"/> equality has it.</description></item>
/// <item><description><see cref="DateTime"/>: the wall-clock reading in the round-trip format without any zone
/// (<c>2026-11-25T10:00:00.0000000</c>); <see cref="DateTime.Kind"/> is ignored, as <see cref="DateTime"/>
/// equality ignores it. The format <c>O</c> would append <c>Z</c>, nothing, or, for a local time, the offset of
/// the formatting process's own time zone, so two processes in different zones would lock one value under two
/// keys. To lock an instant, pass a <see cref="DateTimeOffset"/> or convert to UTC yourself.</description></item>
/// <item><description><see cref="DateOnly"/>, <see cref="TimeOnly"/>: round-trip format <c>O</c>;
/// <see cref="TimeSpan"/>, <see cref="Guid"/>, integers and other <see cref="IFormattable"/> types: their
/// invariant text (one text per value already).</description></item>
/// <item><description>Enums: by name (combined names of a <see cref="FlagsAttribute"/> enum as
/// <see cref="Enum.ToString()"/> writes them, the number for an undefined value). A value with several names
/// (<c>A = 1, B = 1</c>) takes the ordinally first of them, not the one .NET happens to pick (.NET does not
/// promise which). Renaming a member, or adding an alias that sorts first, changes the keys of that
/// value.</description></item>
/// <item><description><see cref="string"/>: exactly as it is (ordinal), as C# string equality is ordinal.
/// Canonically equivalent strings in different Unicode normalization forms (NFC <c>caf\u00e9</c>, NFD
/// <c>cafe\u0301</c>) are different keys. They are not normalized here because normalization would not be the
/// same in every process: with <c>InvariantGlobalization</c> (the default of native AOT apps, and of some
/// containers) <see cref="string.Normalize()"/> leaves non-ASCII text unchanged, so one string would get one key
/// in such a process and another key elsewhere, and both could hold the lock at once. Normalize in your own code
/// (the same way in every process) if your inputs arrive in mixed forms.</description></item>
/// <item><description>Other types: their <see cref="IFormattable"/> text with the invariant culture, else
/// <see cref="object.ToString()"/>; equal values share a key only as far as that text follows the type's
/// equality.</description></item>
/// </list>
/// </remarks>
public static class EtcdLockKeyFormatter
{
    /// <summary>Formats one placeholder's value as an escaped key segment.</summary>
    /// <typeparam name="T">The value's static type.</typeparam>
    /// <param name="value">The value.</param>
    /// <param name="name">The placeholder (parameter or member path) named in exceptions.</param>
    /// <returns>The escaped segment.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="value"/> is null.</exception>
    /// <exception cref="ArgumentException">The value's text is empty.</exception>
    public static string Segment<T>(T value, string name)
    {
        if (value is null)
        {
            throw new ArgumentNullException(name, $"The lock key placeholder '{name}' is null; a lock key needs a value.");
        }

        string text = value switch
        {
            string s => s,
            Enum e => EnumText(e),
            decimal m => DecimalText(m),
            double d => DoubleText(d),
            float f => float.IsNaN(f) ? "NaN" : f == 0 ? "0" : f.ToString(CultureInfo.InvariantCulture),
            Half h => Half.IsNaN(h) ? "NaN" : h == Half.Zero ? "0" : h.ToString(null, CultureInfo.InvariantCulture),
            NFloat n => NFloat.IsNaN(n) ? "NaN" : n == 0 ? "0" : n.ToString(null, CultureInfo.InvariantCulture),
            Complex c => $"<{DoubleText(c.Real)}; {DoubleText(c.Imaginary)}>",
            DateTime d => DateTime.SpecifyKind(d, DateTimeKind.Unspecified).ToString("O", CultureInfo.InvariantCulture),
            DateTimeOffset d => d.ToUniversalTime().ToString("O", CultureInfo.InvariantCulture),
            DateOnly d => d.ToString("O", CultureInfo.InvariantCulture),
            TimeOnly t => t.ToString("O", CultureInfo.InvariantCulture),
            IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
            _ => value.ToString() ?? "",
        };

        if (text.Length == 0)
        {
            throw new ArgumentException($"The lock key placeholder '{name}' is an empty string; a lock key segment cannot be empty.", name);
        }

        return Escape(text);
    }

    /// <summary>Escapes a text so that it stays one key segment (see the remarks of <see cref="EtcdLockKeyFormatter"/>).</summary>
    /// <param name="text">The text.</param>
    /// <returns>The escaped text; the same instance when nothing needed escaping.</returns>
    [EditorBrowsable(EditorBrowsableState.Advanced)]
    public static string Escape(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (IsAllDots(text))
        {
            return string.Concat(Enumerable.Repeat("%2E", text.Length));
        }

        int i = 0;
        while (i < text.Length && !NeedsEscape(text, i))
        {
            i++;
        }

        if (i == text.Length)
        {
            return text;
        }

        var sb = new StringBuilder(text.Length + 16);
        sb.Append(text, 0, i);
        for (; i < text.Length; i++)
        {
            char c = text[i];
            if (char.IsHighSurrogate(c) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]))
            {
                sb.Append(c).Append(text[i + 1]);
                i++;
            }
            else if (char.IsSurrogate(c))
            {
                // An unpaired surrogate has no UTF-8 form; encoding it keeps two such strings apart.
                sb.Append("%u").Append(((int)c).ToString("X4", CultureInfo.InvariantCulture));
            }
            else if (c == '/' || c == '%' || char.IsControl(c))
            {
                if (c <= 0xFF)
                {
                    sb.Append('%').Append(((int)c).ToString("X2", CultureInfo.InvariantCulture));
                }
                else
                {
                    sb.Append("%u").Append(((int)c).ToString("X4", CultureInfo.InvariantCulture));
                }
            }
            else
            {
                sb.Append(c);
            }
        }

        return sb.ToString();
    }

    private static readonly ConcurrentDictionary<Type, Dictionary<string, string>?> EnumAliases = new();

    private static string DoubleText(double d) =>
        double.IsNaN(d) ? "NaN" : d == 0 ? "0" : d.ToString(CultureInfo.InvariantCulture);

    // The invariant text of a decimal keeps its scale (1.00m → "1.00") and never uses an exponent; equal decimals
    // differ only in trailing fractional zeros and the sign of zero.
    private static string DecimalText(decimal m)
    {
        if (m == 0)
        {
            return "0";
        }

        string text = m.ToString(CultureInfo.InvariantCulture);
        if (text.Contains('.', StringComparison.Ordinal))
        {
            text = text.TrimEnd('0').TrimEnd('.');
        }

        return text;
    }

    private static string EnumText(Enum e)
    {
        string text = e.ToString();
        Dictionary<string, string>? aliases = EnumAliases.GetOrAdd(e.GetType(), FindAliases);
        if (aliases is null)
        {
            return text;
        }

        if (aliases.TryGetValue(text, out string? canonical))
        {
            return canonical;
        }

        if (!text.Contains(", ", StringComparison.Ordinal))
        {
            return text;
        }

        // A [Flags] combination: its parts' values do not depend on which alias .NET names, only the names do.
        string[] parts = text.Split(", ");
        for (int i = 0; i < parts.Length; i++)
        {
            if (aliases.TryGetValue(parts[i], out string? part))
            {
                parts[i] = part;
            }
        }

        return string.Join(", ", parts);
    }

    // Maps every name that shares its value with an ordinally smaller name to the smallest; null when no value of
    // the enum has two names (then Enum.ToString is canonical as it is).
    private static Dictionary<string, string>? FindAliases(Type enumType)
    {
        string[] names = Enum.GetNames(enumType);
        Array values = Enum.GetValuesAsUnderlyingType(enumType);
        var first = new Dictionary<object, string>();
        for (int i = 0; i < names.Length; i++)
        {
            object v = values.GetValue(i)!;
            if (!first.TryGetValue(v, out string? name) || string.CompareOrdinal(names[i], name) < 0)
            {
                first[v] = names[i];
            }
        }

        Dictionary<string, string>? aliases = null;
        for (int i = 0; i < names.Length; i++)
        {
            string canonical = first[values.GetValue(i)!];
            if (!string.Equals(canonical, names[i], StringComparison.Ordinal))
            {
                (aliases ??= new Dictionary<string, string>(StringComparer.Ordinal))[names[i]] = canonical;
            }
        }

        return aliases;
    }

    private static bool NeedsEscape(string text, int i)
    {
        char c = text[i];
        if (c == '/' || c == '%' || char.IsControl(c))
        {
            return true;
        }

        if (char.IsHighSurrogate(c))
        {
            return i + 1 >= text.Length || !char.IsLowSurrogate(text[i + 1]);
        }

        return char.IsLowSurrogate(c) && (i == 0 || !char.IsHighSurrogate(text[i - 1]));
    }

    private static bool IsAllDots(string text)
    {
        foreach (char c in text)
        {
            if (c != '.')
            {
                return false;
            }
        }

        return text.Length > 0;
    }
}
