#!/usr/bin/env bash
# The nemesis campaign (docs/reliability.md, "Nemesis campaign"): a 3-member etcd cluster, client processes doing
# guarded read-modify-write increments through fault proxies, an idle holder process keeping 330 long-lived holds, a
# seeded nemesis (partitions, black holes, slow networks, SIGSTOP/SIGKILL of clients, SIGSTOP and kill of members, the
# leader included, compactions, idle keys deleted or taken over behind their holder's back, and resets of the idle
# holder's connections — its watch stream re-created from old revisions — followed by a compaction), a fairness phase,
# then an independent checker over the recorded histories and etcd's history. Each client process also runs the queue
# roles: 2 semaphore callers (MaxCount 2), 2 reader-writer callers and a leader candidate (EtcdLeadership.RunAsync),
# judged from etcd's history by their tickets' rank at each guarded write; a timeline.html is written per run.
#   scripts/nemesis.sh ... [--sem-callers N] [--rw-callers N] [--no-leader]
#   scripts/nemesis.sh --seed S --minutes M [--unguarded] [--out DIR] [--idle-holds N] [--idle-ttl S]
# Exits non-zero when overlaps, lost increments, accepted stale writes or unsignalled losses (of the increments' holds
# and of the idle holds) are not all 0, any queue-role violation is found, or the fairness bound is violated. --unguarded (plain puts: the control) prints
# the same counts and always exits 0.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
seed=""; minutes=""; rest=()
while [ $# -gt 0 ]; do
  case "$1" in
    --seed) seed="$2"; shift 2 ;;
    --minutes) minutes="$2"; shift 2 ;;
    *) rest+=("$1"); shift ;;
  esac
done
seed="${seed:-$((RANDOM * 32768 + RANDOM))}"
minutes="${minutes:-1}"
scripts/ensure-etcd.sh >/dev/null
[ "${NEMESIS_SKIP_BUILD:-}" = 1 ] || dotnet build tests/AttributeLock.Nemesis -c Release -v q -nologo >/dev/null
echo "nemesis seed: $seed"
exec tests/AttributeLock.Nemesis/bin/Release/net10.0/AttributeLock.Nemesis run --seed "$seed" --minutes "$minutes" ${rest[@]+"${rest[@]}"}
