#!/usr/bin/env bash
# Runs the README's first command N times in a row and counts the verdicts.
#
#   scripts/first-command.sh [N]          (default 10)
#
# The command is `./target/release/startup --duration 30s` from the
# repository's root, on its default config.json, exactly as a newcomer runs
# it (the build is done once, first). Each run's verdict line, exit status,
# rate and lateness p99 go to one line of the table; the last line counts
# the runs that passed. The reports are kept in target/first-command/.
#
# Environment:
#   FIRST_DURATION=D   --duration of each run (default 30s)
#   FIRST_ENV="K=V"    an environment setting for startup and its children,
#                      e.g. MASS_CONNECT_CLIENT_RANK=normal (an A/B switch)
set -euo pipefail

case "${1:-}" in
    -h|--help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d' | sed 's/^# \{0,1\}//'; exit 0 ;;
esac

cd "$(dirname "${BASH_SOURCE[0]}")/.."
N=${1:-10}
DURATION=${FIRST_DURATION:-30s}
OUT=target/first-command
mkdir -p "$OUT"

cargo build --release -q
echo "first command, $N runs of startup --duration $DURATION on config.json${FIRST_ENV:+ with $FIRST_ENV}"
cpu=$(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | cut -d: -f2 | xargs || true)
echo "commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown), ${cpu:-cpu unknown}, $(nproc) CPUs, $(uname -r), $(date -u +%FT%TZ)"
printf '%-4s %-5s %-10s %-14s %s\n' run exit verdict lateness_p99 rate
passed=0
for i in $(seq 1 "$N"); do
    report="$OUT/run-$i.json"
    set +e
    env ${FIRST_ENV:-} ./target/release/startup --duration "$DURATION" --quiet --report "$report" \
        > "$OUT/run-$i.txt" 2>&1
    code=$?
    set -e
    [ "$code" = 0 ] && passed=$((passed + 1))
    python3 - "$report" "$i" "$code" <<'PY'
import json, sys
path, i, code = sys.argv[1:]
try:
    r = json.load(open(path))
    print(f"{i:<4} {code:<5} {r['verdict']:<10} {r['lateness_us']['p99'] / 1000:.1f} ms{'':<7} "
          f"{r['achieved_ops_per_s']:.0f}/s of {r['target_ops_per_s']:.0f}")
except Exception as e:
    print(f"{i:<4} {code:<5} (no report: {e})")
PY
done
echo "passed $passed of $N"
