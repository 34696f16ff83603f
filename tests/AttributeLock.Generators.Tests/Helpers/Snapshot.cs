using System.Runtime.CompilerServices;
using System.Text;
using System.Text.RegularExpressions;

namespace AttributeLock.Generators.Tests.Helpers;

/// <summary>
/// A small snapshot check following Verify's conventions: the expected text lives in
/// <c>Snapshots/{TestClass}.{TestMethod}.verified.cs</c> next to the test source. On a mismatch the actual text
/// is written to <c>.received.cs</c> and the test fails with a diff. Setting
/// <c>ATTRIBUTELOCK_ACCEPT_SNAPSHOTS=1</c> (or <c>VERIFY_AUTOVERIFY=1</c>) accepts the actual text instead.
/// A missing verified file fails under <c>CI=true</c>; elsewhere it is created and the test fails asking for a review.
/// </summary>
internal static partial class Snapshot
{
    public static void Match(string actual, [CallerMemberName] string testName = "", [CallerFilePath] string testFile = "")
        => MatchFile(
            actual,
            Path.Combine(Path.GetDirectoryName(testFile)!, "Snapshots", Path.GetFileNameWithoutExtension(testFile) + "." + testName),
            accept: IsSet("ATTRIBUTELOCK_ACCEPT_SNAPSHOTS") || IsSet("VERIFY_AUTOVERIFY"),
            ci: IsSet("CI"));

    /// <summary>Compares <paramref name="actual"/> with <c>{baseName}.verified.cs</c> (see the class remarks).</summary>
    internal static void MatchFile(string actual, string baseName, bool accept, bool ci)
    {
        string folder = Path.GetDirectoryName(baseName)!;
        string verifiedPath = baseName + ".verified.cs";
        string receivedPath = baseName + ".received.cs";
        actual = Normalize(Scrub(actual));

        if (accept)
        {
            Directory.CreateDirectory(folder);
            File.WriteAllText(verifiedPath, actual);
            File.Delete(receivedPath);
            return;
        }

        if (!File.Exists(verifiedPath))
        {
            if (ci)
            {
                Assert.Fail($"Snapshot {verifiedPath} is missing. Run the tests locally to create it, review it and commit it.");
            }

            Directory.CreateDirectory(folder);
            File.WriteAllText(verifiedPath, actual);
            Assert.Fail($"Snapshot {verifiedPath} did not exist and was created from this run. Review it, commit it and run the tests again.");
        }

        string expected = Normalize(File.ReadAllText(verifiedPath));
        if (expected == actual)
        {
            File.Delete(receivedPath);
            return;
        }

        File.WriteAllText(receivedPath, actual);
        Assert.Fail($"""
            Snapshot mismatch: {verifiedPath}
            The actual text was written to {receivedPath}. Accept it by copying it over the verified file
            or by running the tests with ATTRIBUTELOCK_ACCEPT_SNAPSHOTS=1.
            --- verified
            +++ received
            {Diff(expected, actual)}
            """);
    }

    /// <summary>Replaces the generator's version so that a version bump does not change every snapshot.</summary>
    private static string Scrub(string text) => VersionPattern().Replace(text, "GeneratedCode(\"AttributeLock.Generators\", \"{version}\")");

    private static string Normalize(string text) => text.Replace("\r\n", "\n", StringComparison.Ordinal);

    private static bool IsSet(string variable)
        => Environment.GetEnvironmentVariable(variable) is { } value && (value == "1" || value.Equals("true", StringComparison.OrdinalIgnoreCase));

    /// <summary>A line diff (longest common subsequence) showing changed lines with two lines of context.</summary>
    internal static string Diff(string expected, string actual)
    {
        string[] a = expected.Split('\n');
        string[] b = actual.Split('\n');
        var lengths = new int[a.Length + 1, b.Length + 1];
        for (int i = a.Length - 1; i >= 0; i--)
        {
            for (int j = b.Length - 1; j >= 0; j--)
            {
                lengths[i, j] = a[i] == b[j] ? lengths[i + 1, j + 1] + 1 : Math.Max(lengths[i + 1, j], lengths[i, j + 1]);
            }
        }

        var lines = new List<(char Kind, string Text)>();
        int x = 0, y = 0;
        while (x < a.Length || y < b.Length)
        {
            if (x < a.Length && y < b.Length && a[x] == b[y])
            {
                lines.Add((' ', a[x++]));
                y++;
            }
            else if (x < a.Length && (y == b.Length || lengths[x + 1, y] >= lengths[x, y + 1]))
            {
                lines.Add(('-', a[x++]));
            }
            else
            {
                lines.Add(('+', b[y++]));
            }
        }

        var text = new StringBuilder();
        bool skipped = false;
        for (int i = 0; i < lines.Count; i++)
        {
            bool nearChange = false;
            for (int k = Math.Max(0, i - 2); k <= Math.Min(lines.Count - 1, i + 2); k++)
            {
                nearChange |= lines[k].Kind != ' ';
            }

            if (nearChange)
            {
                if (skipped)
                {
                    text.Append("@@ ... @@\n");
                    skipped = false;
                }

                text.Append(lines[i].Kind).Append(lines[i].Text).Append('\n');
            }
            else
            {
                skipped = true;
            }
        }

        return text.ToString();
    }

    [GeneratedRegex("GeneratedCode\\(\"AttributeLock\\.Generators\", \"[^\"]*\"\\)")]
    private static partial Regex VersionPattern();
}
