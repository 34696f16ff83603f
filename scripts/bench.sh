#!/usr/bin/env bash
# Runs the AttributeLock benchmarks (tests/AttributeLock.Benchmarks) against a throw-away local etcd that the
# benchmark program starts itself (free loopback ports, data dir on tmpfs), unless ETCD_ENDPOINTS is set.
#   scripts/bench.sh            full run (about 3.5 minutes on 2 cores)
#   scripts/bench.sh --quick    short sanity run (about 1 minute)
#   scripts/bench.sh --only calls,paired,contention,herd,allocs,generator    some sections only
#   scripts/bench.sh --only generator    the generator against LoggerMessage alone (no etcd is started)
# Results: printed, and written to BenchmarkDotNet.Artifacts/attributelock-summary.md (see docs/benchmarks.md).
# Timings are only meaningful on a quiet machine: the script prints the load and heavy dotnet processes it sees.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
scripts/ensure-etcd.sh
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg); heavy dotnet processes running: $(ps aux | grep -E 'dotnet (test|build)|testhost|VBCSCompiler' | grep -vc grep || true)" >&2
exec dotnet run -c Release --project tests/AttributeLock.Benchmarks -- --artifacts "${BENCH_ARTIFACTS:-BenchmarkDotNet.Artifacts}" "$@"
