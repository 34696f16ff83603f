using System.Diagnostics;
using System.Reflection;
using System.Text;
using AttributeLock.Generators;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;

namespace AttributeLock.Benchmarks;

public sealed record IncrementalRun(string Edit, double Ms, double TrackedMs, IReadOnlyDictionary<string, string> StepReasons, int OutputSteps, int ReEmitted);
