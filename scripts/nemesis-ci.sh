#!/usr/bin/env bash
# The short nemesis campaign of CI: a fixed seed and a random one, 45 s each (36 s of faults, 9 s of fairness), about
# 2 minutes together plus the build. Each prints its seed; replay a failure with scripts/nemesis.sh --seed S --minutes 0.75.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
status=0
scripts/nemesis.sh --seed 20261125 --minutes 0.75 || status=1
scripts/nemesis.sh --seed "$((RANDOM * 32768 + RANDOM))" --minutes 0.75 || status=1
exit "$status"
