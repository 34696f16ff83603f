#!/usr/bin/env bash
# Runs every test of the solution against a real etcd. The test fixtures start their own etcd servers
# (free loopback ports, tmpfs data dirs) unless ETCD_ENDPOINTS is set; this script only makes sure etcd is installed.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
scripts/ensure-etcd.sh
dotnet test AttributeLock.sln -c Release --logger "console;verbosity=normal" "$@"
