using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using BenchmarkDotNet.Reports;

namespace AttributeLock.Benchmarks;

public sealed record CallFigure(string Method, string Description, double MedianMs, double MeanMs, double P95Ms, long? AllocatedBytes);
