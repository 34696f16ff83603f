using System.Diagnostics;

namespace AttributeLock.Benchmarks;

/// <summary>CPU time of this process and of another one (from /proc), in milliseconds.</summary>
public static class Cpu
{
    public static double ClientMs() => Process.GetCurrentProcess().TotalProcessorTime.TotalMilliseconds;

    /// <summary>utime + stime of a process from /proc/PID/stat; NaN when unknown.</summary>
    public static double ProcessMs(int? pid)
    {
        if (pid is null)
        {
            return double.NaN;
        }

        try
        {
            string stat = File.ReadAllText($"/proc/{pid}/stat");
            // Fields after the command name (which is in parentheses and may hold spaces): state is field 3, utime 14, stime 15.
            string[] fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            long ticks = long.Parse(fields[11], System.Globalization.CultureInfo.InvariantCulture) + long.Parse(fields[12], System.Globalization.CultureInfo.InvariantCulture);
            return ticks * 1000.0 / ClockTicksPerSecond;
        }
        catch (IOException)
        {
            return double.NaN;
        }
    }

    // USER_HZ is 100 on Linux for every common architecture.
    private const double ClockTicksPerSecond = 100;
}
