using System.ComponentModel;
using System.Globalization;
using System.Text;

namespace AttributeLock;

/// <summary>
/// Turns argument values into lock-key segments. Used by generated wrappers; public so that hand-written
/// code can build keys the same way.
/// </summary>
/// <remarks>
/// A segment is the value's culture-invariant text (<see cref="IFormattable"/> with the invariant culture,
/// dates and times in the round-trip format <c>O</c>, enums by name, strings as they are) with <c>/</c>, <c>%</c>, control characters and unpaired surrogates
/// percent-encoded, and a segment of only dots (<c>.</c>, <c>..</c>) encoded whole. Because <c>%</c> itself
/// is encoded, the mapping is injective: two different texts never give the same segment, and no value
/// can add a <c>/</c> to the key, so no value leaves the template's prefix.
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
            Enum e => e.ToString(),
            DateTime d => d.ToString("O", CultureInfo.InvariantCulture),
            DateTimeOffset d => d.ToString("O", CultureInfo.InvariantCulture),
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
