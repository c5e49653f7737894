#!/usr/bin/env bash
# The client link threads' rank, A/B: runs startup with each rank of the
# client link threads in turn (MASS_CONNECT_CLIENT_RANK: `idle`, the
# default, the load generator's rank, Linux SCHED_IDLE, from the start;
# `normal` throughout; `adaptive`, normal until far behind), and prints each run's verdict, rate,
# lateness p99 and ack timeouts.
#
#   scripts/rank-ab.sh CONFIG [ROUNDS] [DURATION]   (default 5 rounds of 20s)
#
# RANKS="idle normal adaptive" picks the ranks (default: all three). Each
# round runs every rank once, the order rotating between rounds. Reports go
# to target/rank-ab/. Build with `cargo build --release` first.
set -euo pipefail
[ $# -ge 1 ] || { sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; exit 2; }
cd "$(dirname "${BASH_SOURCE[0]}")/.."
config=$1; rounds=${2:-5}; duration=${3:-20s}
out=target/rank-ab; mkdir -p "$out"
cpu=$(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | cut -d: -f2 | xargs || true)
echo "rank A/B on $config, $rounds rounds of $duration; commit $(git rev-parse --short HEAD), ${cpu:-cpu unknown}, $(nproc) CPUs, $(uname -r), $(date -u +%FT%TZ)"
printf '%-6s %-9s %-5s %-8s %-12s %-14s %s\n' round rank exit verdict rate lateness_p99 ack_timeouts
one() {
    local rank=$1 i=$2 report="$out/$1-$2.json"
    set +e
    MASS_CONNECT_CLIENT_RANK=$rank ./target/release/startup --config "$config" \
        --duration "$duration" --quiet --report "$report" > "$out/$rank-$i.txt" 2>&1
    local code=$?
    set -e
    python3 - "$report" "$i" "$rank" "$code" <<'PY'
import json, sys
path, i, rank, code = sys.argv[1:]
try:
    r = json.load(open(path))
    print(f"{i:<6} {rank:<9} {code:<5} {r['verdict']:<8} {r['achieved_ops_per_s']:<12.0f} {r['lateness_us']['p99'] / 1000:<14.1f} {r['error_kinds']['ack_timeout']}")
except Exception as e:
    print(f"{i:<6} {rank:<9} {code:<5} (no report: {e})")
PY
}
read -r -a ranks <<< "${RANKS:-idle normal adaptive}"
for i in $(seq 1 "$rounds"); do
    n=${#ranks[@]}
    for k in $(seq 0 $((n - 1))); do one "${ranks[$(((i - 1 + k) % n))]}" "$i"; done
done
