#!/usr/bin/env bash
# startup's /metrics under a real Prometheus (issue 26 item 3): starts a
# short run with --metrics on loopback, checks a live scrape with
# `promtool check metrics` (no problem may be printed), has a real
# `prometheus` scrape the run every second, reads the acked rate back
# through Prometheus' HTTP API and checks it against the target, and, once
# the run is over, checks that the last acked count Prometheus stored is
# the one startup's report gives. Prints one OK or FAIL line at the end.
#
#   scripts/prometheus-test.sh [OUTDIR]     (default: a new temporary folder)
#
# Needs Debian's prometheus package (prometheus and promtool), installed
# with apt-get when missing (as root; a policy-rc.d keeps its service from
# starting, and is removed after if this script made it), curl and python3.
# Takes about a minute: the run's --duration, and a few seconds around it.
#
# Environment:
#   MC_PROM_DURATION=D   the run's --duration (default 40s; at least 25s, so
#                        the rate has a 10 s window of scrapes mid-run)
set -euo pipefail

case "${1:-}" in
    -h|--help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d' | sed 's/^# \{0,1\}//'; exit 0 ;;
esac

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
say() { printf 'prometheus-test: %s\n' "$*" >&2; }
fail() { printf 'prometheus-test: FAIL: %s\n' "$*"; exit 1; }

# --- Prometheus, from Debian, its service kept from starting ---------------
if ! command -v prometheus >/dev/null || ! command -v promtool >/dev/null; then
    [[ "$(id -u)" == 0 ]] || fail "prometheus missing; install Debian's prometheus (apt-get install prometheus)"
    say "installing Debian's prometheus"
    made_policy=0
    if [[ ! -e /usr/sbin/policy-rc.d ]]; then
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
        chmod +x /usr/sbin/policy-rc.d
        made_policy=1
    fi
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null \
        || { [[ $made_policy == 0 ]] || rm -f /usr/sbin/policy-rc.d; fail "apt-get could not install prometheus"; }
    [[ $made_policy == 0 ]] || rm -f /usr/sbin/policy-rc.d
fi
command -v curl >/dev/null && command -v python3 >/dev/null || fail "curl and python3 are needed"
say "$(prometheus --version 2>&1 | head -1)"

say "building (cargo build)"
(cd "$repo" && cargo build --quiet --bin startup --bin server --bin client)
startup="$repo/target/debug/startup"

out="${1:-$(mktemp -d)}"
mkdir -p "$out"
out="$(cd "$out" && pwd)"
free_ports() {
    python3 -c 'import socket, sys
ss=[socket.socket() for _ in range(int(sys.argv[1]))]
[s.bind(("127.0.0.1",0)) for s in ss]
print(" ".join(str(s.getsockname()[1]) for s in ss))' "$1"
}
read -r p1 p2 prom_port <<<"$(free_ports 3)"
cat >"$out/config.json" <<EOF
{"server_ip_list": "127.0.0.1", "server_port_list": "$p1;$p2"}
EOF

# Everything started here is ended by its PID, and only that, and reaped.
pids=()
stop_all() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
}
trap stop_all EXIT

# --- a live run: 4 clients x 2 servers, an update every 20 ms: 400/s -------
duration="${MC_PROM_DURATION:-40s}"
"$startup" -f "$out/config.json" -c 4 -i 20ms -d "$duration" --quiet \
    --metrics 127.0.0.1:0 --report "$out/report.json" \
    >"$out/startup.out" 2>"$out/startup.err" &
startup_pid=$!
pids+=("$startup_pid")

url=""
for _ in $(seq 1 300); do   # at most 30 s for the URL line
    url="$(grep -o 'metrics at http://[^ ]*' "$out/startup.err" | head -1 | cut -d' ' -f3 || true)"
    [[ -n "$url" ]] && break
    kill -0 "$startup_pid" 2>/dev/null || break
    sleep 0.1
done
[[ -n "$url" ]] || { cat "$out/startup.err" >&2; fail "startup printed no metrics URL"; }
target="${url#http://}"
target="${target%%/*}"
say "startup serves $url"

scrape() { curl -sS --max-time 5 "$url"; }
# The value of one unlabelled series in a scrape on stdin.
series() { awk -v n="$1" '$1 == n { print $2 }'; }

# The first status round's figures (a round a second after the go).
acked=0
for _ in $(seq 1 300); do   # at most 30 s
    acked="$(scrape | series mass_connect_acked_total || true)"
    [[ -n "$acked" && "$acked" != 0 ]] && break
    sleep 0.1
done
[[ -n "$acked" && "$acked" != 0 ]] || fail "no update acked on /metrics within 30 s"

# --- promtool on a real scrape -----------------------------------------------
scrape >"$out/scrape.txt"
lint="$(promtool check metrics <"$out/scrape.txt" 2>&1)" || fail "promtool check metrics: $lint"
[[ -z "$lint" ]] || fail "promtool check metrics printed problems: $lint"
say "promtool check metrics: no problems ($(grep -c '^# TYPE' "$out/scrape.txt") families, $(grep -vc '^#' "$out/scrape.txt") series)"

# --- a real Prometheus, scraping every second --------------------------------
mkdir -p "$out/tsdb"
cat >"$out/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: mass_connect
    static_configs:
      - targets: ['$target']
EOF
prometheus --config.file="$out/prometheus.yml" --storage.tsdb.path="$out/tsdb" \
    --web.listen-address="127.0.0.1:$prom_port" >"$out/prometheus.log" 2>&1 &
pids+=("$!")
api="http://127.0.0.1:$prom_port"
for _ in $(seq 1 300); do   # at most 30 s to be ready
    curl -sf --max-time 2 "$api/-/ready" >/dev/null 2>&1 && break
    sleep 0.1
done
curl -sf --max-time 2 "$api/-/ready" >/dev/null || { tail -20 "$out/prometheus.log" >&2; fail "prometheus did not become ready"; }
say "prometheus ready at $api, scraping $target every 1s"

# One instant query; prints its first value ("" when there is none yet).
query() {
    curl -sS --max-time 5 --get "$api/api/v1/query" --data-urlencode "query=$1" |
        python3 -c 'import json, sys
r = json.load(sys.stdin)
assert r["status"] == "success", r
v = r["data"]["result"]
print(v[0]["value"][1] if v else "")'
}

# The rate over 10 s of scrapes: asked until it covers a full window.
rate=""
for _ in $(seq 1 60); do   # at most 30 s
    n="$(query 'count_over_time(mass_connect_acked_total[10s])')"
    if [[ -n "$n" && "$n" -ge 10 ]]; then
        rate="$(query 'rate(mass_connect_acked_total[10s])')"
        break
    fi
    sleep 0.5
done
[[ -n "$rate" ]] || { tail -20 "$out/prometheus.log" >&2; fail "Prometheus has no 10 s of mass_connect_acked_total"; }
want="$(query 'mass_connect_target_updates_per_second')"
gauge="$(query 'mass_connect_updates_per_second')"
p99="$(query 'histogram_quantile(0.99, rate(mass_connect_latency_seconds_bucket[10s]))')"
say "rate(mass_connect_acked_total[10s]) = $rate/s; target $want/s; the status line's rate $gauge/s; latency p99 over 10 s ${p99} s"
# A sane band: the run's own verdict judges the rate; this judges the
# numbers' path (a unit or a bucket gone wrong is off by 10x or more).
python3 -c 'import sys
rate, want = float(sys.argv[1]), float(sys.argv[2])
sys.exit(0 if want > 0 and 0.5 * want <= rate <= 1.2 * want else 1)' "$rate" "$want" \
    || fail "the rate Prometheus computed ($rate/s) is outside 50-120% of the target ($want/s)"

# --- the end: Prometheus holds the report's figure ---------------------------
for _ in $(seq 1 900); do   # the run's end, at most 90 s away
    kill -0 "$startup_pid" 2>/dev/null || break
    sleep 0.1
done
set +e
wait "$startup_pid"
code=$?
set -e
[[ $code == 0 || $code == 1 ]] || { cat "$out/startup.err" >&2; fail "startup exited $code"; }
reported="$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["acked"])' "$out/report.json")"
# The last scrape (startup waits up to 3 s for one after its report) may
# land a moment after startup's exit.
for _ in $(seq 1 30); do   # at most 3 s
    stored="$(query 'max_over_time(mass_connect_acked_total[5m])')"
    [[ "$stored" == "$reported" ]] && break
    sleep 0.1
done
say "startup exited $code (0 PASS, 1 FAIL: a loaded machine can saturate the clients); report acked $reported, Prometheus' last $stored"
[[ "$stored" == "$reported" ]] || fail "Prometheus' last acked count ($stored) is not the report's ($reported)"

printf 'prometheus-test: OK: promtool clean; Prometheus rate %s/s of target %s/s; final acked %s as reported (files in %s)\n' \
    "$rate" "$want" "$reported" "$out"
