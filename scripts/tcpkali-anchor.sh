#!/usr/bin/env bash
# An outside anchor that is not ours (issue 27 item 4): tcpkali, a load
# generator we did not write, drives our servers at a fixed message rate
# over many connections, and its own figures sit beside the servers'.
#
#   scripts/tcpkali-anchor.sh (--src DIR | --git URL | --tarball FILE | --tcpkali PATH)
#       [--engines threads,evloop,tokio] [--servers 10] [--connections 1000]
#       [--rates 10000,100000] [--duration 10] [--base-port 23000]
#       [--bin DIR] [--build-dir DIR] [--rebuild] [--build-only] [--out CSV]
#
# tcpkali: https://github.com/satori-com/tcpkali (no copy is committed here).
# Give its source as a directory (--src, e.g. a `git clone` of it), a git
# URL to clone (--git) or a tarball (--tarball, e.g. a GitHub archive), or
# an already built binary (--tcpkali). The source is copied into
# --build-dir (default target/tcpkali-anchor/build) and built there with
# `autoreconf -iv && ./configure && make`; a binary already built there is
# reused unless --rebuild. One patch is applied when this system has no
# <sys/sysctl.h> (glibc 2.32 and later dropped it): tcpkali includes it
# but calls nothing from it on Linux, so the include is commented out.
# Build needs (checked first): autoconf automake libtool bison flex make
# gcc, on Debian/Ubuntu:
#   apt-get update && apt-get install -y autoconf automake libtool bison flex make gcc
#
# The load. For each engine (threads = the product's `server`, evloop =
# `server-evloop`, tokio = `server-tokio`, from --bin, default
# target/release: cargo build --release --workspace) and each total rate
# of --rates (updates/s over all connections): --servers servers on
# 127.0.0.1 ports --base-port.. (checked free first), started afresh for
# the point, and one tcpkali run of --connections connections spread over
# them round robin, each sending --message-rate = rate / connections
# messages per second. The message:
#   update;c\{connection.uid};1\n
# one key per connection (tcpkali numbers its connections 1..N), so each
# server does per update what it does for our clients: find the link's
# cached counter, add one, answer `ack;N`. tcpkali cannot count per
# connection, so every update after a key's first says count 1 while the
# server counts 2, 3, ...: the server counts an anomaly (one relaxed atomic
# add; logging is off by default) and answers as always. That add is the
# only work our clients do not cause; anomalies = updates - keys checks it.
# tcpkali measures latency from each message sent to the next `ack;` seen
# on its connection (--latency-marker 'ack;'); Nagle is off on both sides
# (--nagle=off, as our programs set TCP_NODELAY).
#
# Windows. tcpkali opens 1,000 connections a second; once every connection
# is up (the servers' link count, steady for 0.6 s, within 3 s + 2 s per
# 1,000 connections), 1 s settles, and
# the servers must still hold exactly --connections of tcpkali's (else
# the point is run again, up to 3 times), then a --duration s window in which
# the servers' updates and anomalies (omclient stats) and their CPU
# (/proc/PID/stat, user + system, every thread) are read at both edges.
# Then tcpkali is stopped with Ctrl-C's INT, on which it prints its final
# figures: they cover its whole run (ramp-up, 1 s a 1,000 connections,
# the settling second, the window and the queries at its edges).
#
# Output: --out (default target/tcpkali-anchor/<UTC stamp>/tcpkali.csv),
# one row per engine and rate: engine, servers, connections, target_per_s,
# per_connection_rate, effective_per_s (server_links x that rate: the
# target unless tcpkali held more connections than asked), tk_duration_s, tk_sent_bytes, tk_received_bytes,
# tk_updates_sent_per_s (bytes sent / the mean message length, over its
# run), tk_packets_up_per_s and tk_packets_down_per_s (its "Packet rate
# estimate"), tk_latency_p50_ms, _p95_ms, _p99_ms, _max_ms, window_s,
# server_updates_per_s, server_anomalies (in the window), server_keys,
# server_links (tcpkali's connections the servers held at the window's end),
# server_cpu_us_per_update, server_cpu_percent (of one CPU), tcpkali
# (its --version), commit (-dirty when the built code differs from HEAD)
# and machine (CPU model; CPU count; kernel). Beside it, per point, the
# servers' logs and tcpkali's output.
#
# Traffic stays on 127.0.0.1; every run is bounded in count and time; on
# exit (or Ctrl-C) it stops the processes it started, by PID.
set -euo pipefail
# --src, --tarball, --tcpkali, --bin, --build-dir and --out are read from
# where the script is called, the rest from the repository.
caller="$PWD"
cd "$(dirname "$0")/.."

say() { printf 'tcpkali-anchor: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }
usage_error() { say "$* (see --help)"; exit 2; }
# shellcheck source=scripts/bench-lib.sh
. scripts/bench-lib.sh

src="" git_url="" tarball="" tcpkali="" rebuild=0 build_only=0
engines=threads,evloop,tokio servers=10 connections=1000 rates=10000,100000
duration=10 base_port=23000 bin="" build_dir="" out=""
while [ $# -gt 0 ]; do
  case "$1" in
    -h | --help) awk 'NR > 1 && !/^#/ { exit } NR > 1' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    --rebuild) rebuild=1; shift ;;
    --build-only) build_only=1; shift ;;
    --src | --git | --tarball | --tcpkali | --engines | --servers | --connections | --rates | \
      --duration | --base-port | --bin | --build-dir | --out)
      [ $# -ge 2 ] || usage_error "$1 needs a value"
      name="${1#--}"
      [ "$name" = git ] && name=git_url
      printf -v "${name//-/_}" '%s' "$2"
      shift 2 ;;
    *) usage_error "unknown option $1" ;;
  esac
done

whole servers "$servers" 1
whole connections "$connections" 1
whole duration "$duration" 1
whole base-port "$base_port" 1024
bench_port_room "$base_port" "$servers"
IFS=, read -r -a rate_list <<<"$rates"
for r in "${rate_list[@]}"; do whole rates "$r" 1; done
IFS=, read -r -a engine_list <<<"$engines"
for e in "${engine_list[@]}"; do
  case "$e" in threads | evloop | tokio) ;; *) usage_error "--engines takes threads, evloop and tokio, not '$e'" ;; esac
done
given=0
for s in "$src" "$git_url" "$tarball" "$tcpkali"; do [ -z "$s" ] || given=$((given + 1)); done
[ "$given" -le 1 ] || usage_error "give one of --src, --git, --tarball and --tcpkali"
command -v python3 >/dev/null || die "needs python3"
from_caller() { case "$1" in /*) echo "$1" ;; *) echo "$caller/$1" ;; esac; }
bin="$([ -n "$bin" ] && from_caller "$bin" || echo "$PWD/target/release")"
build_dir="$([ -n "$build_dir" ] && from_caller "$build_dir" || echo "$PWD/target/tcpkali-anchor/build")"

# ---- tcpkali: the given binary, or one built from the given source ----
build_tcpkali() {
  local tree="$build_dir/tcpkali" missing=() tool
  for tool in autoreconf automake libtoolize bison flex make cc; do
    command -v "$tool" >/dev/null || missing+=("$tool")
  done
  [ ${#missing[@]} -eq 0 ] ||
    die "building tcpkali needs ${missing[*]}: apt-get update && apt-get install -y autoconf automake libtool bison flex make gcc"
  rm -rf "$tree"
  mkdir -p "$tree"
  if [ -n "$src" ]; then
    src="$(from_caller "$src")"
    [ -f "$src/configure.ac" ] || die "--src $src holds no configure.ac: is it tcpkali's source (https://github.com/satori-com/tcpkali)?"
    cp -a "$src/." "$tree/"
  elif [ -n "$git_url" ]; then
    command -v git >/dev/null || die "--git needs git"
    git clone --depth 1 "$git_url" "$tree" >&2 || die "could not clone $git_url"
  else
    tarball="$(from_caller "$tarball")"
    [ -f "$tarball" ] || die "--tarball $tarball: no such file"
    tar -xf "$tarball" -C "$tree" --strip-components=1 || die "could not unpack $tarball"
  fi
  [ -f "$tree/configure.ac" ] || die "the source given holds no configure.ac: is it tcpkali's (https://github.com/satori-com/tcpkali)?"
  # glibc >= 2.32 has no <sys/sysctl.h>; tcpkali includes it but calls
  # nothing from it on Linux.
  if ! printf '#include <sys/sysctl.h>\n' | cc -E -x c - >/dev/null 2>&1; then
    say "no <sys/sysctl.h> here: commenting out its (unused on Linux) include in src/tcpkali_syslimits.c"
    sed -i 's|^#include <sys/sysctl.h>$|/* #include <sys/sysctl.h>: not in glibc >= 2.32, unused on Linux */|' \
      "$tree/src/tcpkali_syslimits.c"
  fi
  say "building tcpkali in $tree (log: $build_dir/build.log)"
  (cd "$tree" && autoreconf -iv && ./configure && make -j"$(nproc)") >"$build_dir/build.log" 2>&1 ||
    die "the tcpkali build failed; the end of $build_dir/build.log: $(tail -n 5 "$build_dir/build.log")"
  [ -x "$tree/src/tcpkali" ] || die "the build made no $tree/src/tcpkali"
}
if [ -n "$tcpkali" ]; then
  tcpkali="$(from_caller "$tcpkali")"
  [ -x "$tcpkali" ] || die "--tcpkali $tcpkali is not an executable"
else
  mkdir -p "$build_dir"
  if [ "$given" -eq 0 ] || { [ "$rebuild" -eq 0 ] && [ -x "$build_dir/tcpkali/src/tcpkali" ]; }; then
    [ -x "$build_dir/tcpkali/src/tcpkali" ] ||
      usage_error "no tcpkali built in $build_dir yet: give its source (--src, --git or --tarball; https://github.com/satori-com/tcpkali) or a binary (--tcpkali)"
    say "reusing $build_dir/tcpkali/src/tcpkali (--rebuild builds it again)"
  else
    build_tcpkali
  fi
  tcpkali="$build_dir/tcpkali/src/tcpkali"
fi
tk_version="$("$tcpkali" --version 2>&1 | head -n 1)"
say "$tk_version ($tcpkali)"
[ "$build_only" -eq 0 ] || exit 0

# ---- our programs, the ports, the run's facts ----
program() { # ENGINE: that engine's server program
  case "$1" in threads) echo server ;; *) echo "server-$1" ;; esac
}
for e in "${engine_list[@]}"; do
  [ -x "$bin/$(program "$e")" ] || die "$bin/$(program "$e") is missing: run cargo build --release --workspace (or give --bin DIR)"
done
[ -x "$bin/omclient" ] || die "$bin/omclient is missing: run cargo build --release --workspace"
bench_ports_free "$base_port" "$servers"
commit="$(bench_commit)"
machine="$(bench_machine)"
out="$([ -n "$out" ] && from_caller "$out" || echo "$PWD/target/tcpkali-anchor/$(date -u +%Y%m%dT%H%M%SZ)/tcpkali.csv")"
work="$(dirname "$out")"
mkdir -p "$work"
# A connection is a descriptor on each side.
ulimit -n 1048576 2>/dev/null || ulimit -n "$(ulimit -Hn)"
[ "$(ulimit -n)" -gt $((connections + 100)) ] || die "the descriptor limit $(ulimit -n) is too low for $connections connections"

# Every process this script starts, so the trap stops those and no other.
# shellcheck source=scripts/pids-lib.sh
. scripts/pids-lib.sh
stop_started_on_exit

now() { date +%s.%N; }
# stats CONFIG: "links updates anomalies keys" summed over the servers.
stats() { bench_stats "$bin/omclient" "$1" tcpkali-anchor; }
# run_point ENGINE RATE ATTEMPT: one engine at one total rate; its files
# in DIR. Fails (status 3) when tcpkali opened more connections than asked.
run_point() {
  local engine="$1" rate="$2" dir="$work/$1-$2" p i per_conn deadline links
  local -a server_pids=() dests=()
  rm -rf "$dir"
  mkdir -p "$dir"
  local config="$dir/config.json"
  cat >"$config" <<EOF
{ "server_ip_list": "127.0.0.1", "server_port_list": "$(IFS=';'; echo "${ports[*]}")",
  "server_max_links": 1000000 }
EOF
  for p in "${ports[@]}"; do
    "$bin/$(program "$engine")" --config "$config" --ip 127.0.0.1 --port "$p" >"$dir/server-$p.log" 2>&1 &
    server_pids+=($!) started+=($!)
    dests+=("127.0.0.1:$p")
  done
  for i in "${!ports[@]}"; do
    p="${ports[$i]}"
    for _ in $(seq 100); do
      grep -qs 'listening on' "$dir/server-$p.log" && break
      kill -0 "${server_pids[$i]}" 2>/dev/null || die "$engine: the server on port $p ended: $(tail -n 3 "$dir/server-$p.log")"
      sleep 0.1
    done
    grep -q 'listening on' "$dir/server-$p.log" || die "$engine: the server on port $p did not listen within 10 s"
  done

  per_conn="$(awk -v r="$rate" -v c="$connections" 'BEGIN { printf "%.6g", r / c }')"
  say "$engine: $connections connections at $per_conn msg/s each (${rate}/s in all) to $servers servers, ${duration}s window"
  # The connections open at 1,000 a second: slow enough that tcpkali
  # rarely opens more than asked (below), and ramp_s allows twice that.
  local ramp_s=$((3 + 2 * connections / 1000))
  "$tcpkali" --connections "$connections" --connect-rate 1000 --connect-timeout 10s --duration "$((duration + ramp_s + 30))s" \
    --message-rate "$per_conn" --nagle=off -e --message 'update;c\{connection.uid};1\n' \
    --latency-marker 'ack;' --latency-percentiles 50,95,99,100 "${dests[@]}" \
    >"$dir/tcpkali.out" 2>"$dir/tcpkali.err" &
  local tk_pid=$!
  started+=("$tk_pid")

  # Every connection up (omclient's own query links, one per server, are
  # counted too), and
  # still so 0.6 s later, within ramp_s.
  local steady=0
  deadline=$((SECONDS + ramp_s))
  while [ "$steady" -lt 3 ]; do
    read -r links _ <<<"$(stats "$config")"
    if [ "${links:-0}" -eq $((connections + servers)) ]; then steady=$((steady + 1)); else steady=0; fi
    kill -0 "$tk_pid" 2>/dev/null || die "$engine: tcpkali ended early: $(tail -n 3 "$dir/tcpkali.err")"
    [ $SECONDS -lt $deadline ] || break
    sleep 0.2
  done
  sleep 1
  # tcpkali's ramp-up counts the connections its workers have taken on, and
  # a worker slow to take them on (a busy CPU) makes it open more than asked
  # (seen: 199 for 100 under a CPU cap), or give up on some it thinks still
  # connecting and open others. Such a point is run again; the third time
  # it is measured as it is, and server_links and effective_per_s say so.
  read -r links _ <<<"$(stats "$config")"
  if [ "${links:-0}" -ne $((connections + servers)) ] && [ "$3" -eq 3 ]; then
    say "$engine: tcpkali holds $((links - servers)) connections, not $connections, a third time: measured as it is (see server_links)"
  elif [ "${links:-0}" -ne $((connections + servers)) ]; then
    say "$engine: tcpkali holds $((links - servers)) connections, not $connections (attempt $3 of 3)"
    stop_pids "INT TERM KILL" 30 "$tk_pid" "${server_pids[@]}"
    started=()
    return 3
  fi
  local t0 t1 s0 s1 c0 c1
  t0="$(now)" s0="$(stats "$config")" c0="$(cpu_ticks "${server_pids[@]}")"
  sleep "$duration"
  t1="$(now)" s1="$(stats "$config")" c1="$(cpu_ticks "${server_pids[@]}")"
  # Ctrl-C (INT) ends tcpkali with its final figures (status 64); its
  # --duration is only a bound, 30 s past the window.
  kill -INT "$tk_pid" 2>/dev/null || true
  for _ in $(seq 150); do kill -0 "$tk_pid" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$tk_pid" 2>/dev/null && die "$engine: tcpkali did not end within 15 s of its INT"
  local tk_status=0
  wait "$tk_pid" || tk_status=$?
  case "$tk_status" in 0 | 64) ;; *) die "$engine: tcpkali failed ($tk_status): $(tail -n 3 "$dir/tcpkali.err")" ;; esac
  stop_pids "INT TERM KILL" 30 "${server_pids[@]}"
  started=()
  cat >"$dir/facts" <<EOF
engine $engine
rate $rate
per_conn $per_conn
window_s $(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')
start $s0
end $s1
ticks $((c1 - c0))
EOF
}

for e in "${engine_list[@]}"; do
  for r in "${rate_list[@]}"; do
    for attempt in 1 2 3; do
      status=0
      run_point "$e" "$r" "$attempt" || status=$?
      [ "$status" -eq 3 ] || break
    done
    [ "$status" -eq 0 ] || exit "$status"
  done
done

python3 - "$work" "$out" "$servers" "$connections" "$(getconf CLK_TCK)" "$tk_version" "$commit" "$machine" \
  "${engine_list[@]/%/:$rates}" <<'PY'
import csv, re, sys

work, out, servers, conns, clk, tk_version, commit, machine = sys.argv[1:9]
conns, clk = int(conns), int(clk)
points = [(e, r) for arg in sys.argv[9:] for e, rs in [arg.split(":")] for r in rs.split(",")]

# The message is update;c<uid>;1\n: 11 bytes + the digits of the uid, 1..N
# for the N keys the servers saw (N = conns unless tcpkali opened more).
def mean_len(n):
    return sum(11 + len(str(u)) for u in range(1, n + 1)) / n

def num(pattern, text, what, path):
    m = re.search(pattern, text)
    if not m:
        sys.exit(f"tcpkali-anchor: no {what} in {path}")
    return m.groups()

rows = []
for engine, rate in points:
    d = f"{work}/{engine}-{rate}"
    facts = dict(line.split(" ", 1) for line in open(f"{d}/facts").read().splitlines())
    tk = open(f"{d}/tcpkali.out").read()
    path = f"{d}/tcpkali.out"
    sent, = num(r"Total data sent:.*\((\d+) bytes\)", tk, "bytes sent", path)
    recv, = num(r"Total data received:.*\((\d+) bytes\)", tk, "bytes received", path)
    dur, = num(r"Test duration: ([0-9.]+) s", tk, "test duration", path)
    down, up = num(r"Packet rate estimate: ([0-9.]+)\S*, ([0-9.]+)", tk, "packet rate", path)
    lat = re.search(r"Message latency at percentiles: ([0-9.]+)/([0-9.]+)/([0-9.]+)/([0-9.]+) ms", tk)
    lat = lat.groups() if lat else ("",) * 4
    _, u0, a0, _ = map(int, facts["start"].split())
    l1, u1, a1, keys = map(int, facts["end"].split())
    window = float(facts["window_s"])
    updates = u1 - u0
    cpu_s = int(facts["ticks"]) / clk
    rows.append({
        "engine": engine, "servers": servers, "connections": conns,
        "target_per_s": rate, "per_connection_rate": facts["per_conn"],
        "effective_per_s": round((l1 - int(servers)) * float(facts["per_conn"]), 1),
        "tk_duration_s": dur, "tk_sent_bytes": sent, "tk_received_bytes": recv,
        "tk_updates_sent_per_s": round(int(sent) / mean_len(keys) / float(dur), 1),
        "tk_packets_up_per_s": up, "tk_packets_down_per_s": down,
        "tk_latency_p50_ms": lat[0], "tk_latency_p95_ms": lat[1],
        "tk_latency_p99_ms": lat[2], "tk_latency_max_ms": lat[3],
        "window_s": round(window, 3),
        "server_updates_per_s": round(updates / window, 1),
        "server_anomalies": a1 - a0, "server_keys": keys,
        "server_links": l1 - int(servers),  # less omclient's own, one per server
        "server_cpu_us_per_update": round(cpu_s * 1e6 / updates, 3) if updates else "",
        "server_cpu_percent": round(100 * cpu_s / window, 1),
        "tcpkali": tk_version, "commit": commit, "machine": machine,
    })
with open(out, "w", newline="") as f:
    w = csv.DictWriter(f, fieldnames=list(rows[0]))
    w.writeheader()
    w.writerows(rows)
print(f"{'engine':8} {'target/s':>9} {'tk sent/s':>10} {'srv upd/s':>10} {'anomalies':>10} {'us/upd':>7} {'p50 ms':>7} {'p99 ms':>7}")
for r in rows:
    print(f"{r['engine']:8} {r['target_per_s']:>9} {r['tk_updates_sent_per_s']:>10} {r['server_updates_per_s']:>10} "
          f"{r['server_anomalies']:>10} {r['server_cpu_us_per_update']:>7} {r['tk_latency_p50_ms']:>7} {r['tk_latency_p99_ms']:>7}")
print(f"written: {out}")
PY
