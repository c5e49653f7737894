#!/usr/bin/env bash
# Runs the cargo-fuzz targets in fuzz/ for a fixed number of inputs each and
# prints the figures docs/RELIABILITY.md records.
#
#   scripts/fuzz.sh [RUNS] [TARGET...]
#
#   RUNS     inputs per target (default 10000000)
#   TARGET   protocol, config (default: both, one after the other)
#
# Environment:
#   FUZZ_MAX_TIME=S   stop a target after S seconds even if RUNS is not
#                     reached (default 7200); the summary then says so
#   FUZZ_SEED=N       libFuzzer's -seed, for a repeatable run (default: random)
#
# Why this shape:
#  * cargo-fuzz needs nightly flags; only stable Rust is installed here, so
#    RUSTC_BOOTSTRAP=1 lets the stable compiler take them.
#  * `-s none`: the code under test has no `unsafe` (lib.rs denies it outside
#    the Windows and affinity modules, which the targets do not reach), so
#    AddressSanitizer would find nothing and halve the speed. Debug
#    assertions and overflow checks stay on (cargo-fuzz's default), so an
#    arithmetic overflow is a crash.
#  * One libFuzzer process per target: the machine has 2 cores, shared.
#  * New corpus entries go to fuzz/corpus/TARGET (git ignores all but the
#    seed-* files); crashes go to fuzz/artifacts/TARGET; full logs to
#    fuzz/logs/TARGET.log.
set -euo pipefail

usage() {
    sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'
}

RUNS=10000000
if [ $# -gt 0 ]; then
    case $1 in
        -h|--help) usage; exit 0 ;;
        ''|*[!0-9]*) echo "fuzz.sh: RUNS must be a whole number, got '$1'" >&2; usage >&2; exit 2 ;;
        *) RUNS=$1; shift ;;
    esac
fi
TARGETS=("$@")
[ ${#TARGETS[@]} -gt 0 ] || TARGETS=(protocol config)
for t in "${TARGETS[@]}"; do
    case $t in
        protocol|config) ;;
        *) echo "fuzz.sh: unknown target '$t' (known: protocol, config)" >&2; exit 2 ;;
    esac
done
MAX_TIME=${FUZZ_MAX_TIME:-7200}

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "==> installing cargo-fuzz (cargo install cargo-fuzz --locked)"
    cargo install cargo-fuzz --locked
fi
export RUSTC_BOOTSTRAP=1
FLAGS=(--sanitizer none)

echo "==> building fuzz targets ($(cargo fuzz --version), $(rustc --version))"
cargo fuzz build "${FLAGS[@]}"

mkdir -p fuzz/logs
failed=0
for t in "${TARGETS[@]}"; do
    log=fuzz/logs/$t.log
    args=(-runs="$RUNS" -max_total_time="$MAX_TIME" -max_len=4096
          -dict="fuzz/dicts/$t.dict" -print_final_stats=1)
    [ -n "${FUZZ_SEED:-}" ] && args+=(-seed="$FUZZ_SEED")
    echo "==> $t: cargo fuzz run ${FLAGS[*]} $t -- ${args[*]}"
    start=$(date +%s)
    set +e
    cargo fuzz run "${FLAGS[@]}" "$t" -- "${args[@]}" >"$log" 2>&1
    rc=$?
    set -e
    wall=$(( $(date +%s) - start ))
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
    last=$(grep -E '^#[0-9]+' "$log" | tail -1 || true)
    cov=$(sed -n 's/.* cov: \([0-9]*\) ft: \([0-9]*\) corp: \([^ ]*\).*/cov \1, features \2, corpus \3/p' <<<"$last")
    echo "    runs ${runs:-?}, ${rate:-?} exec/s, ${cov:-coverage ?}, wall ${wall} s, exit $rc"
    if [ "$rc" -ne 0 ]; then
        failed=1
        echo "    FAILED: see $log and fuzz/artifacts/$t/; its tail:"
        grep -E 'panicked at|^SUMMARY|Test unit written' "$log" | sed 's/^/    /' || tail -20 "$log"
    elif [ "${runs:-0}" -lt "$RUNS" ]; then
        echo "    note: stopped by FUZZ_MAX_TIME=${MAX_TIME}s before $RUNS runs"
    else
        echo "    no crash"
    fi
done
exit "$failed"
