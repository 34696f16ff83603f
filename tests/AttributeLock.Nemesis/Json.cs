using System.Text.Json;
using System.Text.Json.Serialization;

namespace AttributeLock.Nemesis;

internal static class Json
{
    public static readonly JsonSerializerOptions Options = new(JsonSerializerDefaults.Web)
    {
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };

    public static string Line<T>(T value) => JsonSerializer.Serialize(value, Options);

    public static IEnumerable<T> ReadLines<T>(string path)
    {
        foreach (string line in File.ReadLines(path))
        {
            if (line.Length == 0)
            {
                continue;
            }

            T? value;
            try
            {
                value = JsonSerializer.Deserialize<T>(line, Options);
            }
            catch (JsonException)
            {
                continue; // a line cut short by a SIGKILL
            }

            if (value is not null)
            {
                yield return value;
            }
        }
    }
}
