using System.Reflection;
using System.Text.RegularExpressions;
using AttributeLock.CodeFixes;
using Microsoft.CodeAnalysis;

namespace AttributeLock.Generators.Tests;

/// <summary>
/// The diagnostics as a contract: every id is a public constant with one descriptor, every descriptor is described
/// and links to a section of docs/diagnostics.md that exists, and the code fixes use the same ids.
/// </summary>
public sealed partial class DiagnosticContractTests
{
    private static readonly IReadOnlyList<DiagnosticDescriptor> Descriptors = typeof(DiagnosticDescriptors)
        .GetFields(BindingFlags.Public | BindingFlags.Static)
        .Where(f => f.FieldType == typeof(DiagnosticDescriptor))
        .Select(f => (DiagnosticDescriptor)f.GetValue(null)!)
        .ToList();

    private static readonly IReadOnlyDictionary<string, string> Ids = typeof(DiagnosticIds)
        .GetFields(BindingFlags.Public | BindingFlags.Static)
        .Where(f => f.IsLiteral)
        .ToDictionary(f => f.Name, f => (string)f.GetRawConstantValue()!);

    [Fact]
    public void Every_id_has_one_descriptor_of_the_same_name()
    {
        Assert.Equal(Ids.Values.Order(), Descriptors.Select(d => d.Id).Order());
        foreach (FieldInfo field in typeof(DiagnosticDescriptors).GetFields(BindingFlags.Public | BindingFlags.Static))
        {
            Assert.Equal(Ids[field.Name], ((DiagnosticDescriptor)field.GetValue(null)!).Id);
        }
    }

    [Fact]
    public void Every_descriptor_has_a_description_and_a_help_link_to_an_existing_section()
    {
        HashSet<string> anchors = Headings(File.ReadAllText(DocsPath())).Select(Anchor).ToHashSet(StringComparer.Ordinal);
        Assert.All(Descriptors, d =>
        {
            Assert.False(string.IsNullOrWhiteSpace(d.Description.ToString()), d.Id + " has no description");
            Assert.Equal(DiagnosticDescriptors.HelpLinkBase + "#" + d.Id.ToLowerInvariant(), d.HelpLinkUri);
            string anchor = d.HelpLinkUri[(d.HelpLinkUri.IndexOf('#', StringComparison.Ordinal) + 1)..];
            Assert.True(anchors.Contains(anchor), $"{d.Id}: docs/diagnostics.md has no heading with the anchor #{anchor}");
        });
    }

    [Fact]
    public void Docs_have_one_section_per_id_and_no_other()
    {
        var sections = Headings(File.ReadAllText(DocsPath())).Where(h => IdPattern().IsMatch(h)).ToList();
        Assert.Equal(Ids.Values.Order(), sections.Order());
    }

    [Fact]
    public void Release_notes_list_every_id_with_its_severity()
    {
        string folder = Path.Combine(Path.GetDirectoryName(DocsPath())!, "..", "generators", "AttributeLock.Generators");
        var rows = File.ReadLines(Path.Combine(folder, "AnalyzerReleases.Shipped.md"))
            .Concat(File.ReadLines(Path.Combine(folder, "AnalyzerReleases.Unshipped.md")))
            .Select(l => l.Split('|', StringSplitOptions.TrimEntries))
            .Where(cells => cells.Length == 4 && IdPattern().IsMatch(cells[0]))
            .ToList();
        Assert.Equal(Descriptors.Select(d => $"{d.Id} {d.DefaultSeverity}").Order(), rows.Select(r => $"{r[0]} {r[2]}").Order());
    }

    [Fact]
    public void Code_fixes_fix_known_ids()
    {
        var fixable = new EtcdLockCodeFixProvider().FixableDiagnosticIds;
        Assert.NotEmpty(fixable);
        Assert.All(fixable, id => Assert.Contains(id, Ids.Values));
    }

    [GeneratedRegex("^AL[0-9]{4}$")]
    private static partial Regex IdPattern();

    /// <summary>The text of every Markdown heading (#, ## ...) outside code blocks.</summary>
    private static IEnumerable<string> Headings(string markdown)
    {
        bool code = false;
        foreach (string line in markdown.ReplaceLineEndings("\n").Split('\n'))
        {
            if (line.StartsWith("```", StringComparison.Ordinal))
            {
                code = !code;
            }
            else if (!code && line.StartsWith('#'))
            {
                yield return line.TrimStart('#').Trim();
            }
        }
    }

    /// <summary>GitHub's anchor for a heading: lower case, punctuation dropped, spaces as hyphens.</summary>
    private static string Anchor(string heading)
        => new string(heading.ToLowerInvariant().Where(c => char.IsLetterOrDigit(c) || c is ' ' or '-' or '_').ToArray()).Replace(' ', '-');

    private static string DocsPath()
    {
        for (DirectoryInfo? directory = new(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            string candidate = Path.Combine(directory.FullName, "docs", "diagnostics.md");
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        throw new FileNotFoundException("docs/diagnostics.md not found above " + AppContext.BaseDirectory);
    }
}
