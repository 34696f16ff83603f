#!/usr/bin/env bash
# The main job: the OrderService sample (samples/OrderService) against etcd. Builds the sample once, checks the options,
# then runs the demo: worker processes of the service contend for the same orders, one is killed with SIGKILL inside a
# hold, another is frozen with SIGSTOP at its write past the TTL and its late (guarded) write is refused, and the run is
# verified from the data in etcd (--unguarded: plain writes, the lost update shows, exit status 1). A throw-away local etcd is started (and etcd-server installed
# when missing) unless ETCD_ENDPOINTS is set. Options: ./run-demo.sh --help
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
project=samples/OrderService
bin="$project/bin/Release/net10.0/OrderService"

echo "building $project (Release) ..." >&2
start=$SECONDS
if ! build_log=$(dotnet build "$project" -c Release -nologo -v q -clp:NoSummary 2>&1); then
  printf '%s\n' "$build_log" >&2
  echo "error: the build failed" >&2
  exit 1
fi
echo "built in $((SECONDS - start)) s" >&2

for arg in "$@"; do
  case "$arg" in -h|--help) exec "$bin" --help ;; esac
done
"$bin" --check "$@"   # bad options: a message and exit status 2, before etcd is touched

exec scripts/with-etcd.sh "$bin" "$@"
