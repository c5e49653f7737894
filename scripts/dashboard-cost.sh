#!/usr/bin/env bash
# What the dashboard costs (issue 17): startup's own CPU over a run's
# window at the original's scale (100 clients x 10 servers, 10 ms), with
# and without --dashboard, the dashboard runs polled every second by a
# client (curl on /api/run: the whole JSON each time, the worst case; the
# page itself long-polls and asks less). Runs alternate, so a drift of the
# machine hits both sides; prints every run and the medians (Linux).
#
#   scripts/dashboard-cost.sh [RUNS] [DURATION]     (default: 3 runs each, 60s)
#
# The figures in docs/DASHBOARD.md ("The dashboard", "What it costs") come from
# this script. It builds release binaries and writes into a temporary folder.
set -euo pipefail
runs="${1:-3}"
duration="${2:-60s}"
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
(cd "$repo" && cargo build --release --quiet)
bin="$repo/target/release"
dir="$(mktemp -d)"
cat >"$dir/config.json" <<'EOF'
{"server_ip_list": "127.0.0.1",
 "server_port_list": "28751;28752;28753;28754;28755;28756;28757;28758;28759;28760",
 "client_num_per_host": 100, "update_intervals": 10, "log_switch": false}
EOF
ulimit -Sn "$(ulimit -Hn)" 2>/dev/null || true
ticks="$(getconf CLK_TCK)"

# startup's own CPU seconds (utime + stime, not its children's).
cpu_of() { awk -v t="$ticks" '{ print ($14 + $15) / t }' "/proc/$1/stat" 2>/dev/null; }

one() { # one run: $1 = with|without; prints "cpu_s window_s rate p99_us late_p99_us server% client%"
    local mode="$1" err="$dir/$1-$2.err" report="$dir/$1-$2.json" args=()
    [[ $mode == with ]] && args=(--dashboard 127.0.0.1:0)
    "$bin/startup" --config "$dir/config.json" --duration "$duration" --report "$report" \
        "${args[@]}" >/dev/null 2>"$err" &
    local pid=$! go_cpu="" go_t="" end_cpu="" end_t="" url="" poller=""
    for _ in $(seq 1 1200); do   # 0.1 s steps: at most 2 minutes to the go
        grep -q 'links connected in' "$err" && break
        sleep 0.1
    done
    go_cpu="$(cpu_of "$pid")"; go_t="$(date +%s.%N)"
    if [[ $mode == with ]]; then
        url="$(grep -o 'dashboard at http://[^ ]*' "$err" | cut -d' ' -f3)"
        curl -s "$url" >/dev/null
        ( for _ in $(seq 1 100000); do
              curl -s --max-time 5 "${url}api/run" >/dev/null || break
              sleep 1
          done ) &
        poller=$!
    fi
    for _ in $(seq 1 36000); do   # 0.1 s steps, bounded by the run's end
        grep -q 'stopping .* clients' "$err" && break
        kill -0 "$pid" 2>/dev/null || break
        end_cpu="$(cpu_of "$pid")"; end_t="$(date +%s.%N)"
        sleep 0.1
    done
    [[ -n $poller ]] && kill "$poller" 2>/dev/null
    wait "$pid" || true
    python3 - "$report" "$go_cpu" "$end_cpu" "$go_t" "$end_t" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
cpu = float(sys.argv[3]) - float(sys.argv[2])
window = float(sys.argv[5]) - float(sys.argv[4])
p = r["processes"]
print(f'{cpu:.2f} {window:.1f} {r["achieved_ops_per_s"]:.0f} {r["latency_us"]["p99"]} '
      f'{r["lateness_us"]["p99"]} {p["server"]["cpu_percent_total_avg"]:.1f} {p["client"]["cpu_percent_total_avg"]:.1f}')
PY
}

echo "mode     startup_cpu_s window_s startup_cpu_%  updates/s  p99_us  late_p99_us  servers_cpu_%  clients_cpu_%"
for i in $(seq 1 "$runs"); do
    for mode in without with; do
        read -r cpu window rate p99 late s c < <(one "$mode" "$i")
        pct="$(awk -v c="$cpu" -v w="$window" 'BEGIN { printf "%.2f", c / w * 100 }')"
        printf '%-8s %13s %8s %13s %10s %7s %12s %14s %14s\n' "$mode" "$cpu" "$window" "$pct" "$rate" "$p99" "$late" "$s" "$c" \
            | tee -a "$dir/results.txt"
    done
done
echo
for mode in without with; do
    awk -v m="$mode" '$1 == m { print $4, $5, $6, $7, $8, $9 }' "$dir/results.txt" | sort -n | python3 -c '
import sys, statistics
rows = [list(map(float, l.split())) for l in sys.stdin]
cols = list(zip(*rows))
med = [statistics.median(c) for c in cols]
print(f"median {sys.argv[1]:8} startup cpu {med[0]:.2f}% of a core; {med[1]:.0f} updates/s; p99 {med[2]:.0f} us; lateness p99 {med[3]:.0f} us; servers {med[4]:.1f}%, clients {med[5]:.1f}%")
' "$mode"
done
echo "(runs in $dir)"
