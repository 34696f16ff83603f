using System.Globalization;

namespace OrderService.Worker;

/// <summary>The worker mode's command line: <c>worker --name w1 --run RUN [--phase slow|load] [--orders N] [--writes guarded|plain]</c>.</summary>
public sealed record WorkerSettings
{
    /// <summary>The worker's name in the journal and the timeline, for example <c>w1</c>.</summary>
    public required string Name { get; init; }

    /// <summary>The demo run's id: the run's own key space.</summary>
    public required string Run { get; init; }

    /// <summary>Starts in the load phase instead of slow motion.</summary>
    public bool StartInLoad { get; init; }

    /// <summary>How many orders the load phase picks from.</summary>
    public int Orders { get; init; } = 8;

    /// <summary>
    /// <c>true</c> (the default): data protected by a lock is written with guarded writes, which etcd applies only while
    /// the hold still owns its key. <c>false</c> (<c>--writes plain</c>, the demo's <c>--unguarded</c>): plain puts.
    /// </summary>
    public bool GuardedWrites { get; init; } = true;

    /// <summary>Parses the arguments after <c>worker</c>.</summary>
    /// <param name="args">The arguments.</param>
    /// <returns>The settings.</returns>
    /// <exception cref="ArgumentException">An argument is missing or wrong.</exception>
    public static WorkerSettings Parse(IReadOnlyList<string> args)
    {
        string? name = null, run = null;
        bool load = false, guarded = true;
        int orders = 8;
        for (int i = 0; i < args.Count; i++)
        {
            string value = i + 1 < args.Count ? args[i + 1] : throw new ArgumentException($"worker: {args[i]} needs a value.");
            switch (args[i])
            {
                case "--name": name = value; break;
                case "--run": run = value; break;
                case "--phase": load = value == "load"; break;
                case "--orders": orders = int.Parse(value, CultureInfo.InvariantCulture); break;
                case "--writes":
                    guarded = value switch
                    {
                        "guarded" => true,
                        "plain" => false,
                        _ => throw new ArgumentException($"worker: --writes is guarded or plain, not '{value}'."),
                    };
                    break;
                default: throw new ArgumentException($"worker: unknown argument '{args[i]}'.");
            }

            i++;
        }

        return new WorkerSettings
        {
            Name = name ?? throw new ArgumentException("worker: --name is required."),
            Run = run ?? throw new ArgumentException("worker: --run is required."),
            StartInLoad = load,
            Orders = orders,
            GuardedWrites = guarded,
        };
    }
}
