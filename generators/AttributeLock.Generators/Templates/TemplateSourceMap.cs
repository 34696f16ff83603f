using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using Microsoft.CodeAnalysis.Text;

namespace AttributeLock.Generators.Templates;

/// <summary>
/// Maps character positions of a key template to positions in the source, so that a diagnostic can point
/// at the offending part inside the string literal (escape sequences make the two differ).
/// </summary>
internal sealed class TemplateSourceMap
{
    private readonly int[]? _positions;
    private readonly TextSpan _fallback;

    private TemplateSourceMap(int[]? positions, TextSpan fallback)
    {
        _positions = positions;
        _fallback = fallback;
    }

    /// <summary>
    /// Builds the map for the template argument <paramref name="expression"/>. When it is not a plain
    /// string literal (a constant, a concatenation, a multi-line raw string) every span maps to the whole
    /// expression.
    /// </summary>
    public static TemplateSourceMap Create(ExpressionSyntax expression, string template)
    {
        TextSpan fallback = expression.Span;
        if (expression is LiteralExpressionSyntax { Token: var token } && token.ValueText == template)
        {
            int[]? positions = token.Kind() switch
            {
                SyntaxKind.StringLiteralToken => MapQuoted(token),
                SyntaxKind.SingleLineRawStringLiteralToken => MapRaw(token),
                _ => null,
            };
            if (positions is not null && positions.Length == template.Length + 1)
            {
                return new TemplateSourceMap(positions, fallback);
            }
        }

        return new TemplateSourceMap(null, fallback);
    }

    /// <summary>The source span of the template characters [start, start + length).</summary>
    public TextSpan Map(int start, int length)
    {
        if (_positions is null)
        {
            return _fallback;
        }

        int from = _positions[start];
        return TextSpan.FromBounds(from, _positions[start + length]);
    }

    private static int[]? MapRaw(SyntaxToken token)
    {
        string text = token.Text;
        int quotes = 0;
        while (quotes < text.Length && text[quotes] == '"')
        {
            quotes++;
        }

        int contentLength = text.Length - (2 * quotes);
        if (contentLength < 0)
        {
            return null;
        }

        var positions = new int[contentLength + 1];
        for (int i = 0; i <= contentLength; i++)
        {
            positions[i] = token.SpanStart + quotes + i;
        }

        return positions;
    }

    private static int[]? MapQuoted(SyntaxToken token)
    {
        string text = token.Text;
        bool verbatim = text.StartsWith("@", System.StringComparison.Ordinal);
        int i = verbatim ? 2 : 1;
        int end = text.Length - 1;
        var positions = new System.Collections.Generic.List<int>(text.Length);
        while (i < end)
        {
            positions.Add(token.SpanStart + i);
            if (verbatim)
            {
                i += text[i] == '"' ? 2 : 1;
                continue;
            }

            if (text[i] != '\\')
            {
                i++;
                continue;
            }

            char kind = i + 1 < end ? text[i + 1] : '\0';
            switch (kind)
            {
                case 'x':
                    int digits = 0;
                    while (digits < 4 && i + 2 + digits < end && IsHex(text[i + 2 + digits]))
                    {
                        digits++;
                    }

                    i += 2 + digits;
                    break;
                case 'u':
                    i += 6;
                    break;
                case 'U':
                    // May encode a surrogate pair: two template characters, one escape.
                    if (i + 10 <= end && uint.TryParse(text.Substring(i + 2, 8), System.Globalization.NumberStyles.HexNumber, null, out uint value) && value > 0xFFFF)
                    {
                        positions.Add(token.SpanStart + i);
                    }

                    i += 10;
                    break;
                default:
                    i += 2;
                    break;
            }
        }

        positions.Add(token.SpanStart + System.Math.Min(i, end));
        return positions.ToArray();
    }

    private static bool IsHex(char c) => (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}
