// The OrderService sample. Two modes of one binary:
//   OrderService worker --name w1 --run RUN ...   one node of the service (a Generic Host), driven by a coordinator
//   OrderService [options]                        the demo: starts workers, shows the timeline, kills one, verifies
//   OrderService --health                         the lock provider's health check against the configured etcd
// ./run-demo.sh at the repository root builds it and runs the demo against a local etcd.
using OrderService.Demo;
using OrderService.Worker;

if (args.Length > 0 && args[0] == "worker")
{
    try
    {
        return await WorkerHost.RunAsync(WorkerSettings.Parse(args[1..]));
    }
    catch (ArgumentException ex)
    {
        Console.Error.WriteLine(ex.Message);
        return 2;
    }
}

if (args is ["--health"])
{
    return await HealthCommand.RunAsync();
}

if (args is ["--check", "--health"])
{
    return 0;
}

bool checkOnly = args.Length > 0 && args[0] == "--check";
DemoOptions? options = DemoOptions.Parse(checkOnly ? args[1..] : args, out string? error);
if (error is not null)
{
    Console.Error.WriteLine($"error: {error}");
    Console.Error.WriteLine("Try './run-demo.sh --help'.");
    return 2;
}

if (options!.Help)
{
    Console.Out.Write(DemoOptions.HelpText);
    return 0;
}

if (checkOnly)
{
    return 0;
}

return await DemoCoordinator.RunAsync(options);
