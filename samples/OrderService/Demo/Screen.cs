namespace OrderService.Demo;

/// <summary>
/// The demo's output: timeline lines, and a progress line that is redrawn in place on a terminal (printed as a
/// plain line, less often, when the output is a file or a pipe).
/// </summary>
public sealed class Screen
{
    private readonly object _gate = new();
    private readonly bool _terminal = !Console.IsOutputRedirected;
    private string? _status;

    /// <summary><c>true</c> when the output is a terminal.</summary>
    public bool IsTerminal => _terminal;

    /// <summary>Prints one line (above the progress line, if one is shown).</summary>
    /// <param name="text">The line.</param>
    public void Line(string text = "")
    {
        lock (_gate)
        {
            if (_terminal && _status is not null)
            {
                Console.Out.Write("\r\u001b[2K");
            }

            Console.Out.WriteLine(text);
            if (_terminal && _status is not null)
            {
                Console.Out.Write(_status);
            }

            Console.Out.Flush();
        }
    }

    /// <summary>Shows the progress line: redrawn in place on a terminal, else printed as a line.</summary>
    /// <param name="text">The progress line.</param>
    public void Status(string text)
    {
        lock (_gate)
        {
            if (!_terminal)
            {
                Console.Out.WriteLine(text);
                Console.Out.Flush();
                return;
            }

            int width = Console.WindowWidth > 20 ? Console.WindowWidth - 1 : 120;
            _status = text.Length > width ? text[..width] : text;
            Console.Out.Write("\r\u001b[2K" + _status);
            Console.Out.Flush();
        }
    }

    /// <summary>Leaves the progress line as it is and continues below it.</summary>
    public void EndStatus()
    {
        lock (_gate)
        {
            if (_terminal && _status is not null)
            {
                Console.Out.WriteLine();
            }

            _status = null;
        }
    }
}
