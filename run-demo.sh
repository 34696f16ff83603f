#!/usr/bin/env bash
# The main job: the demo against a local etcd (started and stopped here unless ETCD_ENDPOINTS is set).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
exec scripts/with-etcd.sh dotnet run --project samples/AttributeLock.Demo -c Release -- "$@"
