using System.Diagnostics;
using System.Runtime.InteropServices;

namespace AttributeLock.Engine.Session;

/// <summary>
/// The clock of lease deadlines, in <see cref="Stopwatch"/> ticks (<see cref="Stopwatch.Frequency"/> per second). On
/// Linux it is <c>CLOCK_BOOTTIME</c>, which keeps counting while the machine is suspended; <see cref="Stopwatch"/>
/// reads <c>CLOCK_MONOTONIC</c>, which stops then, while etcd's lease clock (on another machine) goes on: after a resume
/// a monotonic deadline could lie beyond etcd's expiry, and a hold another process already has would still look live
/// here. Elsewhere (or where the call fails) it is <see cref="Stopwatch.GetTimestamp"/>; see docs/reliability.md.
/// </summary>
internal static class LeaseClock
{
    private const int ClockBootTime = 7; // <linux/time.h>

    /// <summary>Whether deadlines count suspended time (CLOCK_BOOTTIME is in use).</summary>
    public static readonly bool CountsSuspend = Probe();

    public static long GetTimestamp()
    {
        if (CountsSuspend && clock_gettime(ClockBootTime, out Timespec ts) == 0)
        {
            long ns = (long)ts.Seconds * 1_000_000_000L + ts.Nanoseconds;
            return Stopwatch.Frequency == 1_000_000_000L ? ns : (long)((Int128)ns * Stopwatch.Frequency / 1_000_000_000L);
        }

        return Stopwatch.GetTimestamp();
    }

    private static bool Probe()
    {
        if (!OperatingSystem.IsLinux())
        {
            return false;
        }

        try
        {
            return clock_gettime(ClockBootTime, out _) == 0;
        }
        catch (Exception ex) when (ex is DllNotFoundException or EntryPointNotFoundException)
        {
            return false;
        }
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct Timespec
    {
        public nint Seconds;     // time_t
        public nint Nanoseconds; // long
    }

    // glibc's soname; on a libc without it (musl) the probe fails and the Stopwatch is used.
    [DllImport("libc.so.6", EntryPoint = "clock_gettime")]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static extern int clock_gettime(int clockId, out Timespec time);
}
