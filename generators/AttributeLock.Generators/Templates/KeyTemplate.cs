using System.Collections.Generic;
using Microsoft.CodeAnalysis.CSharp;

namespace AttributeLock.Generators.Templates;

/// <summary>Splits key templates into literal text and placeholders.</summary>
internal static class KeyTemplate
{
    /// <summary>Tokenizes <paramref name="template"/>; adjacent literal characters form one token.</summary>
    public static List<TemplateToken> Tokenize(string template)
    {
        var tokens = new List<TemplateToken>();
        int literalStart = -1;
        int i = 0;

        void FlushLiteral(int end)
        {
            if (literalStart >= 0 && end > literalStart)
            {
                tokens.Add(new TemplateToken(TemplateTokenKind.Literal, literalStart, end - literalStart, System.Array.Empty<string>()));
            }

            literalStart = -1;
        }

        while (i < template.Length)
        {
            char c = template[i];
            if (c == '<')
            {
                FlushLiteral(i);
                int close = template.IndexOf('>', i + 1);
                int nextOpen = template.IndexOf('<', i + 1);
                if (close < 0 || (nextOpen >= 0 && nextOpen < close))
                {
                    int end = nextOpen >= 0 ? nextOpen : template.Length;
                    tokens.Add(new TemplateToken(TemplateTokenKind.Unterminated, i, end - i, System.Array.Empty<string>()));
                    i = end;
                    continue;
                }

                string content = template.Substring(i + 1, close - i - 1);
                int length = close - i + 1;
                if (content.Length == 0)
                {
                    tokens.Add(new TemplateToken(TemplateTokenKind.Empty, i, length, System.Array.Empty<string>()));
                }
                else if (TrySplitPath(content, out string[] segments))
                {
                    tokens.Add(new TemplateToken(TemplateTokenKind.Placeholder, i, length, segments));
                }
                else
                {
                    tokens.Add(new TemplateToken(TemplateTokenKind.InvalidName, i, length, new[] { content }));
                }

                i = close + 1;
                continue;
            }

            if (c == '{')
            {
                int close = template.IndexOf('}', i + 1);
                if (close > i + 1 && TrySplitPath(template.Substring(i + 1, close - i - 1), out string[] segments))
                {
                    FlushLiteral(i);
                    tokens.Add(new TemplateToken(TemplateTokenKind.Braces, i, close - i + 1, segments));
                    i = close + 1;
                    continue;
                }
            }

            if (literalStart < 0)
            {
                literalStart = i;
            }

            i++;
        }

        FlushLiteral(template.Length);
        return tokens;
    }

    private static bool TrySplitPath(string content, out string[] segments)
    {
        segments = content.Split('.');
        for (int i = 0; i < segments.Length; i++)
        {
            string segment = segments[i];
            if (segment.Length > 1 && segment[0] == '@')
            {
                segment = segment.Substring(1);
            }

            // '<class>' and '<@class>' both name the parameter '@class': a template is not C#.
            if (!SyntaxFacts.IsValidIdentifier(segment))
            {
                return false;
            }

            segments[i] = segment;
        }

        return true;
    }
}
