namespace AttributeLock.Generators.Templates;

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
