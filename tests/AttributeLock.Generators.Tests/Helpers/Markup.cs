using Microsoft.CodeAnalysis.Text;

namespace AttributeLock.Generators.Tests.Helpers;

/// <summary>
/// Source with expected diagnostics marked as <c>{|AL0002:text|}</c> (the analyzer testing library's markup):
/// the markers are removed and the span of <c>text</c> is recorded with the id.
/// </summary>
internal sealed record Markup(string Source, IReadOnlyList<(string Id, TextSpan Span)> Expected)
{
    public static Markup Parse(string markup)
    {
        var expected = new List<(string, TextSpan)>();
        var source = new System.Text.StringBuilder();
        int i = 0;
        while (i < markup.Length)
        {
            int open = markup.IndexOf("{|", i, StringComparison.Ordinal);
            if (open < 0)
            {
                source.Append(markup, i, markup.Length - i);
                break;
            }

            source.Append(markup, i, open - i);
            int colon = markup.IndexOf(':', open);
            int close = markup.IndexOf("|}", colon, StringComparison.Ordinal);
            string id = markup.Substring(open + 2, colon - open - 2);
            string content = markup.Substring(colon + 1, close - colon - 1);
            expected.Add((id, new TextSpan(source.Length, content.Length)));
            source.Append(content);
            i = close + 2;
        }

        return new Markup(source.ToString(), expected);
    }
}
