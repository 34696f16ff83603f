using System.Globalization;

namespace AttributeLock.Nemesis;

/// <summary>--name value pairs and --flag switches.</summary>
internal sealed class Args
{
    private readonly Dictionary<string, string> _values = new(StringComparer.Ordinal);

    public static Args Parse(IEnumerable<string> args)
    {
        var result = new Args();
        string? pending = null;
        foreach (string a in args)
        {
            if (a.StartsWith("--", StringComparison.Ordinal))
            {
                if (pending is not null)
                {
                    result._values[pending] = "true";
                }

                pending = a[2..];
            }
            else if (pending is not null)
            {
                result._values[pending] = a;
                pending = null;
            }
            else
            {
                throw new ArgumentException($"Unexpected argument '{a}'.");
            }
        }

        if (pending is not null)
        {
            result._values[pending] = "true";
        }

        return result;
    }

    public bool Has(string name) => _values.ContainsKey(name);

    public string Get(string name, string? fallback = null) =>
        _values.TryGetValue(name, out string? v) ? v : fallback ?? throw new ArgumentException($"--{name} is required.");

    public int Int(string name, int fallback) => Has(name) ? int.Parse(_values[name], CultureInfo.InvariantCulture) : fallback;

    public long Long(string name, long fallback) => Has(name) ? long.Parse(_values[name], CultureInfo.InvariantCulture) : fallback;

    public double Double(string name, double fallback) => Has(name) ? double.Parse(_values[name], CultureInfo.InvariantCulture) : fallback;
}
