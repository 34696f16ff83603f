// The nemesis campaign: a seeded, randomized fault campaign that checks "no lost update" for guarded writes.
//   run    --seed S --minutes M [--unguarded] [--out DIR]   the driver: cluster, client processes, nemesis, checker
//   client ...                                              one client process (started by the driver)
//   idle ...                                                the idle holder process: a few hundred long-lived holds
//   check  --dir DIR                                        the checker alone, on the files of a finished run
//   selftest                                                the queue checker on synthetic histories (it must fail them)
using AttributeLock.Nemesis;

if (args.Length == 0)
{
    Console.Error.WriteLine("usage: run --seed S --minutes M [--unguarded] [--out DIR] | check --dir DIR | client ... | idle ...");
    return 2;
}

var options = Args.Parse(args.Skip(1));
return args[0] switch
{
    "run" => await Driver.RunAsync(options),
    "client" => await ClientRole.RunAsync(options),
    "idle" => await IdleRole.RunAsync(options),
    "check" => Checker.Report(options.Get("dir"), Console.Out, options.Has("unguarded-control")),
    "selftest" => QueueCheckerSelfTest.Run(Console.Out),
    _ => 2,
};
