#!/usr/bin/env bash
# Alternating before/after runs of the hot-path benches, for a change that
# must not slow any engine (issue 24): the system bench at 10x10 and 100x10
# (fixed rate, 10 ms) and the engines bench's 1,000-link point (100 x 10,
# closed loop; threads, evloop, tokio). Rounds alternate which side goes
# first, so a drift of the machine's speed does not favour one side.
#
#   scripts/bench-ab.sh BEFORE_DIR AFTER_DIR OUT_DIR [ROUNDS]   (default 3)
#
# BEFORE_DIR and AFTER_DIR are checkouts (e.g. `git worktree add`) of the
# two commits. Each run's log is OUT_DIR/<side>-<s|e><round>.log.
set -euo pipefail
[ $# -ge 3 ] || { sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; exit 2; }
before=$(cd "$1" && pwd); after=$(cd "$2" && pwd); out=$3; rounds=${4:-3}
mkdir -p "$out"; out=$(cd "$out" && pwd)
sys() { (cd "$1" && cargo bench -q --bench system -- --links 10,100 --schedules fixed-rate \
    --affinity off --duration 10s --out "$out/$2-s$3" > "$out/$2-s$3.log" 2>&1); }
eng() { (cd "$1" && cargo bench -q -p mass_connect_engines --bench engines -- --links 100 \
    --schedules closed-loop --engines threads,evloop,tokio --duration 10s \
    --out "$out/$2-e$3" > "$out/$2-e$3.log" 2>&1); }
for i in $(seq 1 "$rounds"); do
    if [ $((i % 2)) = 1 ]; then first=before; second=after; else first=after; second=before; fi
    dir() { if [ "$1" = before ]; then echo "$before"; else echo "$after"; fi; }
    echo "$(date -u +%T) round $i: $first then $second"
    sys "$(dir $first)" $first "$i"; sys "$(dir $second)" $second "$i"
    eng "$(dir $first)" $first "$i"; eng "$(dir $second)" $second "$i"
done
echo "$(date -u +%T) done: $out"
