using System.Globalization;

namespace OrderService.Demo;

/// <summary>The demo's command-line options.</summary>
public sealed record DemoOptions
{
    /// <summary>The usage text of <c>--help</c>.</summary>
    public const string HelpText = """
        Usage: ./run-demo.sh [options]

        Runs the OrderService sample (samples/OrderService) against etcd and shows its distributed locks at work:
        worker processes of the same service binary capture payments for the same orders ([EtcdLock("/orders/<orderId>")]),
        credit customers ([EtcdLock("/customers/<order.CustomerId>")]) and race for a settlement job that must run on one
        node at a time ([EtcdLock("/jobs/settlement", WhenBusy = LockBusyBehavior.Skip)]). The back office runs on every
        worker too: a settlement job that only the leader runs ([EtcdLeader("/leaders/settlement")], a counter
        incremented every 500 ms), settlement reports at most two at once ([EtcdSemaphore("/reports/settlement",
        MaxCount = 2)]), catalog reads side by side and price updates alone ([EtcdReadLock]/[EtcdWriteLock] on
        "/catalog/<sku>"). Every operation is a non-atomic read-modify-write in etcd under its lock; its write is
        guarded (WriteIfHeldAsync): etcd applies it only while the writer's hold still owns its lock key (the key's
        create revision = the hold's fencing token).

          1. slow motion: a timeline of who holds which key, its fencing token, who waits and for how long
          2. crash: one worker is killed with SIGKILL while it holds an order's lock; the lock comes free when its
             lease's TTL runs out and another worker takes it over with a larger fencing token; a replacement starts
          3. pause: a worker is frozen with SIGSTOP inside its hold, right before its write (after its cancellation
             check), for longer than the TTL; another worker takes the order with a larger fencing token; after
             SIGCONT the frozen worker's write goes out with its old fencing token and etcd refuses it
          3b. leader: who leads the settlement job (GetLeaderAsync: holder, fencing token); two reports side by side
             while more wait, catalog reads side by side while a price update waits (from the journal); then the
             leader is killed with SIGKILL and the next candidate takes over once its lease's TTL (3 s) runs out,
             with a larger fencing token (ObserveLeaderAsync), and settles on; a replacement starts
          4. load: the workers hammer --orders orders, with a progress line
          5. verification from the data in etcd: no two holds of a key overlapped, fencing tokens grew per key,
             every counter equals the number of operations that wrote it (no lost update); at no revision more than
             two reports held, no catalog hold beside an update of it, every settlement increment applied once with
             leader fencing tokens that never go back

        Options:
          --workers N     worker processes at the start, 2-8 (default 2); a replacement for the killed one is added
          --orders N      orders the workers contend for in the load phase, 1-10000 (default 8)
          --duration S    seconds the workers run, all phases together, 10-3600 (default 30; 12 with --short)
          --short         the quick run that CI uses (12 s of workers; same checks)
          --unguarded     plain puts instead of guarded writes (the back office's too): the pause phase's late write
                          lands and an update is lost; the verification reports it and the run exits with 1
          --health        only run the lock provider's health check (AddHealthChecks().AddEtcdLocks()) against etcd
                          and print it: exit 0 healthy or degraded, 1 unhealthy
          -h, --help      show this text

        Environment:
          ETCD_ENDPOINTS  use this etcd (comma-separated URLs); unset: run-demo.sh starts a throw-away local etcd
                          (and installs etcd-server with apt-get when etcd is missing)
          EtcdLocks__KeyPrefix, EtcdLocks__DefaultTtlSeconds, ...  override samples/OrderService/appsettings.json

        Exit status: 0 when every check passed, 1 when a check failed (with --unguarded: the lost update, as
        expected) or etcd was unreachable, 2 for bad options.

        """;

    /// <summary>Worker processes at the start.</summary>
    public int Workers { get; init; } = 2;

    /// <summary>Orders of the load phase.</summary>
    public int Orders { get; init; } = 8;

    /// <summary>Seconds the workers run.</summary>
    public int DurationSeconds { get; init; } = 30;

    /// <summary>The CI run.</summary>
    public bool Short { get; init; }

    /// <summary><c>--unguarded</c>: the workers write with plain puts instead of guarded writes.</summary>
    public bool Unguarded { get; init; }

    /// <summary><c>--help</c> was given.</summary>
    public bool Help { get; init; }

    /// <summary>Seconds of slow motion before the crash.</summary>
    public int SlowSeconds => Short ? 3 : 6;

    /// <summary>Parses the command line.</summary>
    /// <param name="args">The arguments.</param>
    /// <param name="error">What is wrong, or <c>null</c>.</param>
    /// <returns>The options, or <c>null</c> with <paramref name="error"/> set.</returns>
    public static DemoOptions? Parse(IReadOnlyList<string> args, out string? error)
    {
        var options = new DemoOptions();
        int? duration = null;
        for (int i = 0; i < args.Count; i++)
        {
            string arg = args[i];
            string name = arg;
            string? inline = null;
            int eq = arg.IndexOf('=', StringComparison.Ordinal);
            if (arg.StartsWith("--", StringComparison.Ordinal) && eq > 0)
            {
                name = arg[..eq];
                inline = arg[(eq + 1)..];
            }

            switch (name)
            {
                case "-h":
                case "--help":
                    error = null;
                    return new DemoOptions { Help = true };
                case "--short":
                case "--unguarded":
                    if (inline is not null)
                    {
                        error = $"{name} takes no value.";
                        return null;
                    }

                    options = name == "--short" ? options with { Short = true } : options with { Unguarded = true };
                    break;
                case "--workers":
                case "--orders":
                case "--duration":
                    string? text = inline ?? (i + 1 < args.Count ? args[++i] : null);
                    (int min, int max) = name switch
                    {
                        "--workers" => (2, 8),
                        "--orders" => (1, 10_000),
                        _ => (10, 3600),
                    };
                    if (text is null)
                    {
                        error = $"{name} needs a number ({min}-{max}).";
                        return null;
                    }

                    if (!int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out int value) || value < min || value > max)
                    {
                        error = $"{name} must be a whole number from {min} to {max}, not '{text}'.";
                        return null;
                    }

                    options = name switch
                    {
                        "--workers" => options with { Workers = value },
                        "--orders" => options with { Orders = value },
                        _ => options,
                    };
                    if (name == "--duration")
                    {
                        duration = value;
                    }

                    break;
                default:
                    error = arg.StartsWith('-') ? $"unknown option '{arg}'." : $"unexpected argument '{arg}' (the demo takes options only).";
                    return null;
            }
        }

        error = null;
        return options with { DurationSeconds = duration ?? (options.Short ? 12 : 30) };
    }
}
