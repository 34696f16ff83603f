#!/usr/bin/env bash
# Runs every test of the solution against a real etcd. The test fixtures start their own etcd servers
# (free loopback ports, tmpfs data dirs) unless ETCD_ENDPOINTS is set; this script only makes sure etcd is installed.
#   bash scripts/test.sh [dotnet test arguments...]      e.g. --filter 'FullyQualifiedName~Safety'
# The solution is built once; then the test projects run side by side, TEST_JOBS at a time (default 2), the longest
# first (no two share an etcd: each test process starts its own). Each project's output is printed whole when the
# project ends, then a table of the projects' wall times with the load average. Exit status 1 when any project failed.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
scripts/ensure-etcd.sh
jobs="${TEST_JOBS:-2}"

# The longest first, so that the short ones fill the gaps; a test project not listed here runs last. The generator
# tests (1.5 cores for 30 s when alone) wait for a free slot rather than slow down the three long ones.
longest_first=(AttributeLock.Samples.Tests AttributeLock.Faults.Tests AttributeLock.Tests AttributeLock.Generators.Tests
  AttributeLock.HealthChecks.Tests AttributeLock.DistributedLock.Tests AttributeLock.EndToEnd.Tests AttributeLock.Testing.Tests)
mapfile -t all < <(dotnet sln AttributeLock.sln list | grep -E '\.csproj$' | while read -r p; do
  grep -q '<IsTestProject>true</IsTestProject>' "$p" && echo "$p"; done)
projects=()
for name in "${longest_first[@]}"; do
  for p in "${all[@]}"; do [ "$(basename "$p" .csproj)" = "$name" ] && projects+=("$p"); done
done
for p in "${all[@]}"; do
  [[ " ${longest_first[*]} " == *" $(basename "$p" .csproj) "* ]] || projects+=("$p")
done

start=$SECONDS
echo "load average before the build: $(cut -d' ' -f1-3 /proc/loadavg)"
dotnet build AttributeLock.sln -c Release -nologo -v q -clp:NoSummary
echo "built in $((SECONDS - start)) s; testing ${#projects[@]} projects, $jobs at a time; load average $(cut -d' ' -f1-3 /proc/loadavg)"

logs="$(mktemp -d /tmp/attributelock-test.XXXX)"
trap 'rm -rf "$logs"' EXIT

# run_one PROJECT ARGS...: one project's tests; its output is printed whole once it ends (under a lock, so the
# outputs of projects running side by side never interleave), its exit status and wall time kept for the table.
run_one() {
  local project="$1" name rc=0 began=$SECONDS
  shift
  name="$(basename "$project" .csproj)"
  dotnet test "$project" -c Release --no-build --logger "console;verbosity=normal" "$@" >"$logs/$name.log" 2>&1 || rc=$?
  echo "$rc $((SECONDS - began)) $(cut -d' ' -f1 /proc/loadavg)" >"$logs/$name.result"
  flock "$logs/.print" cat "$logs/$name.log"
}

testing=$SECONDS
for p in "${projects[@]}"; do
  while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do wait -n || true; done
  run_one "$p" "$@" &
done
wait

failed=0
echo
echo "project wall times (load average at the end of each):"
for p in "${projects[@]}"; do
  name="$(basename "$p" .csproj)"
  read -r rc took load <"$logs/$name.result" || { rc=1; took="?"; load="?"; }
  printf '  %-36s %4s s  load %-5s %s\n' "$name" "$took" "$load" "$([ "$rc" -eq 0 ] && echo passed || echo "FAILED (exit $rc)")"
  [ "$rc" -eq 0 ] || failed=1
done
echo "tests took $((SECONDS - testing)) s, build and tests $((SECONDS - start)) s; load average $(cut -d' ' -f1-3 /proc/loadavg)"
exit "$failed"
