using System.Diagnostics;
using System.Reflection;
using System.Text;
using AttributeLock.Generators;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;

namespace AttributeLock.Benchmarks;

public sealed record GeneratorResult(
    int Methods,
    int WarmupRounds,
    int Rounds,
    string LoggerMessageGenerator,
    GeneratorSeries Ours,
    GeneratorSeries LoggerMessage,
    GeneratorSeries OursFloor,
    GeneratorSeries LoggerMessageFloor,
    GeneratorSeries OursReplay,
    GeneratorSeries LoggerMessageReplay,
    long OursGeneratedChars,
    long LoggerMessageGeneratedChars,
    double[] FullRatios,
    double[] EditedRatios,
    double[] NoEditRatios,
    double TrackedMs,
    IReadOnlyDictionary<string, double> StepMs,
    IReadOnlyList<IncrementalRun> Incremental,
    string LoadBefore,
    string LoadAfter);
