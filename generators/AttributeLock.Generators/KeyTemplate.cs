using System.Collections.Generic;
using Microsoft.CodeAnalysis.CSharp;

namespace AttributeLock.Generators
{
    /// <summary>The kinds of pieces a key template is split into.</summary>
    internal enum TemplateTokenKind
    {
        /// <summary>Literal text.</summary>
        Literal,

        /// <summary>A well-formed placeholder <c>&lt;a.b&gt;</c>.</summary>
        Placeholder,

        /// <summary>A <c>&lt;</c> without its <c>&gt;</c>.</summary>
        Unterminated,

        /// <summary><c>&lt;&gt;</c>.</summary>
        Empty,

        /// <summary>A placeholder whose content is not a name or member path.</summary>
        InvalidName,

        /// <summary><c>{a.b}</c>: looks like a placeholder in the wrong syntax (also kept as literal text).</summary>
        Braces,
    }

    /// <summary>A piece of a key template, with its position in the template text.</summary>
    /// <param name="Kind">What the piece is.</param>
    /// <param name="Start">Its first character's index in the template.</param>
    /// <param name="Length">Its length, brackets included.</param>
    /// <param name="Segments">For placeholders and braces: the path's names, without '@'.</param>
    internal sealed record TemplateToken(TemplateTokenKind Kind, int Start, int Length, string[] Segments)
    {
        /// <summary>The names joined with dots.</summary>
        public string Path => string.Join(".", Segments);

        /// <summary>The start index of segment <paramref name="index"/> in the template.</summary>
        public int SegmentStart(string template, int index)
        {
            // Segments are separated by single dots and may carry a leading '@' in the text.
            int position = Start + 1;
            for (int i = 0; i < index; i++)
            {
                position = template.IndexOf('.', position) + 1;
            }

            return position;
        }

        /// <summary>The length of segment <paramref name="index"/> in the template text ('@' included).</summary>
        public int SegmentLength(string template, int index)
        {
            int start = SegmentStart(template, index);
            int end = start;
            while (end < Start + Length - 1 && template[end] != '.')
            {
                end++;
            }

            return end - start;
        }
    }

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
                    tokens.Add(new TemplateToken(TemplateTokenKind.Literal, literalStart, end - literalStart, new string[0]));
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
                        tokens.Add(new TemplateToken(TemplateTokenKind.Unterminated, i, end - i, new string[0]));
                        i = end;
                        continue;
                    }

                    string content = template.Substring(i + 1, close - i - 1);
                    int length = close - i + 1;
                    if (content.Length == 0)
                    {
                        tokens.Add(new TemplateToken(TemplateTokenKind.Empty, i, length, new string[0]));
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
}
