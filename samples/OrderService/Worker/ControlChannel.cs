using Microsoft.Extensions.Hosting;

namespace OrderService.Worker;

/// <summary>
/// Commands from the demo coordinator, one per line on standard input: <c>load</c>, <c>long-call</c>,
/// <c>pause-at-write</c>, <c>resume-write</c>, <c>slow-order N</c> (0: none), <c>showcase</c>,
/// <c>showcase-update</c>, <c>stop</c>.
/// The end of standard input also stops the worker, so a worker never outlives its coordinator.
/// </summary>
/// <param name="workload">The pace to switch.</param>
/// <param name="lifetime">Stops the host.</param>
public sealed class ControlChannel(Workload workload, IHostApplicationLifetime lifetime) : BackgroundService
{
    /// <inheritdoc />
    protected override Task ExecuteAsync(CancellationToken stoppingToken)
    {
        // Console reads block a thread: a dedicated one, left behind when the host stops.
        var reader = new Thread(Read) { IsBackground = true, Name = "control" };
        reader.Start();
        return Task.CompletedTask;
    }

    private void Read()
    {
        while (Console.In.ReadLine() is { } line)
        {
            string command = line.Trim();
            if (command.StartsWith("slow-order ", StringComparison.Ordinal))
            {
                workload.SlowOrder(int.Parse(command["slow-order ".Length..], System.Globalization.CultureInfo.InvariantCulture));
                continue;
            }

            switch (command)
            {
                case "load":
                    workload.SwitchToLoad();
                    break;
                case "long-call":
                    workload.ArmLongCall();
                    break;
                case "pause-at-write":
                    workload.ArmPausePoint();
                    break;
                case "resume-write":
                    workload.ResumeWrite();
                    break;
                case "showcase":
                    workload.ArmShowcase(withUpdate: false);
                    break;
                case "showcase-update":
                    workload.ArmShowcase(withUpdate: true);
                    break;
                case "stop":
                    lifetime.StopApplication();
                    return;
            }
        }

        lifetime.StopApplication();
    }
}
