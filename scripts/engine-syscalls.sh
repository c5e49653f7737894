#!/usr/bin/env bash
# Syscalls per update, by kind, for each engine (issue 27 item 3): the
# mechanisms behind the engines' CPU figures, counted rather than asserted.
#
#   scripts/engine-syscalls.sh [--engines threads,evloop,tokio] [--servers 10]
#       [--clients 10] [--links 1000] [--interval 100] [--window 10]
#       [--base-port 29100] [--threads N] [--method auto|perf|strace]
#       [--syscalls LIST] [--bin DIR] [--out CSV]
#
# For each engine, one fixed point: --servers server processes on
# 127.0.0.1 ports --base-port.. (checked free first), and --links links
# packed into --clients client processes (each link one `--server`
# option, spread over the servers as the engines bench spreads them),
# every link sending one update each --interval ms (fixed rate). Defaults:
# 10 servers, 10 clients, 1,000 links at 100 ms = 10,000 updates/s.
#
# Once every link is up (the clients' status lines) and the first updates
# have settled, two windows of --window seconds each, so connect and
# teardown stay out of both:
#   untraced  the servers' update count (omclient stats) and the processes'
#             CPU (/proc/PID/stat) before and after: the undisturbed rate
#             and CPU per update;
#   traced    the same, with the syscalls counted by kind, the servers'
#             and the clients' processes apart. Calls are divided by the
#             updates the servers stored in that window (the omclient
#             queries at its edges add a few dozen calls to the servers').
# Comparing the two says how much counting disturbed what it counted.
#
# Methods (--method; auto picks perf when it can count tracepoints here):
#   perf    `perf stat -e syscalls:sys_enter_<name>` per listed syscall and
#           raw_syscalls:sys_enter for the total, attached to every thread
#           of the side's processes, started disabled and enabled only for
#           the window (--control), so attaching is not counted. In-kernel
#           counting: no stop per syscall, so the calls per update stay
#           as they were. The CPU does not quite: each thread's counters
#           are switched with it, so CPU per update rises, most for threads
#           (fewer --syscalls, less of it). Syscalls not in --syscalls are
#           counted only in the total, as `other`. Needs root or
#           kernel.perf_event_paranoid = -1, and one descriptor per listed
#           syscall and thread (the script raises its limit).
#   strace  `strace -c -f -p` on every process of the side: every kind
#           without a list, but each syscall stops the thread twice for the
#           tracer, and that changes the mechanism measured: an event
#           loop slowed down finds more links ready per epoll_wait (in a
#           check, evloop's client made 1.20 per update under perf and 0.18
#           under strace). The window starts once every process is attached
#           and ends just before strace detaches.
#
# Output: --out (default target/engine-syscalls/<UTC stamp>/syscalls.csv),
# one row per engine, side and syscall (and perf's `other`, and `total`):
#   engine, side (server|client), syscall, calls (in the traced window),
#   calls_per_update, updates (stored by the servers in the traced window),
#   window_s, achieved_per_s and untraced_per_s (updates/s in the traced
#   and the untraced window), cpu_us_per_update and
#   untraced_cpu_us_per_update (this side's processes, user + system),
#   links, interval_ms, method, commit (-dirty when the built code differs
#   from HEAD), machine (CPU model; CPU count; kernel).
# And on stdout, per engine and side, calls per update of the main kinds:
#   read (read, recvfrom, recvmsg, readv), write (write, sendto, sendmsg,
#   writev), epoll (epoll_wait, epoll_pwait, epoll_pwait2), futex, sleep
#   (clock_nanosleep, nanosleep), yield (sched_yield), accept (accept,
#   accept4), other (the rest summed) and total.
# Beside the CSV: each process's log and report, and the raw perf/strace
# output. docs/img/engine-syscalls.README.txt is the section draft.
#
# Needs the release programs (cargo build --release --workspace, or --bin
# DIR), python3, and perf or strace. Traffic stays on 127.0.0.1; every wait
# is bounded; on exit (or Ctrl-C) it stops the processes it started, by
# PID. Run it on a quiet machine: the figures are per update, but a busy
# machine changes how often threads block and wake.
set -euo pipefail
# --bin and --out are read from where the script is called, the rest from
# the repository.
caller="$PWD"
cd "$(dirname "$0")/.."

say() { printf 'engine-syscalls: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }
usage_error() { say "$* (see --help)"; exit 2; }
# shellcheck source=scripts/bench-lib.sh
. scripts/bench-lib.sh

engines=threads,evloop,tokio servers=10 clients=10 links=1000 interval=100
window=10 base_port=29100 threads="" method=auto bin="" out=""
# The kinds the table shows, as the engines make them (in checks with a
# longer list, recvmsg, readv, sendmsg, writev, epoll_pwait2, accept, poll
# and ppoll were never called, and everything else summed to 0.02 per
# update at most): each listed syscall is a counter on every thread.
syscalls="read,recvfrom,write,sendto,epoll_wait,epoll_pwait,futex,clock_nanosleep,nanosleep,sched_yield,accept4"
while [ $# -gt 0 ]; do
  case "$1" in
    -h | --help) awk 'NR > 1 && !/^#/ { exit } NR > 1' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    --engines | --servers | --clients | --links | --interval | --window | --base-port | \
      --threads | --method | --syscalls | --bin | --out)
      [ $# -ge 2 ] || usage_error "$1 needs a value"
      name="${1#--}"
      printf -v "${name//-/_}" '%s' "$2"
      shift 2 ;;
    *) usage_error "unknown option $1" ;;
  esac
done

whole servers "$servers" 1
whole clients "$clients" 1
whole links "$links" 1
whole interval "$interval" 1
whole window "$window" 1
whole base-port "$base_port" 1024
[ -z "$threads" ] || whole threads "$threads" 1
bench_port_room "$base_port" "$servers"
[ "$links" -ge "$clients" ] || usage_error "--links $links is fewer than --clients $clients"
case "$method" in auto | perf | strace) ;; *) usage_error "--method is auto, perf or strace, not '$method'" ;; esac
IFS=, read -r -a engine_list <<<"$engines"
for e in "${engine_list[@]}"; do
  case "$e" in threads | evloop | tokio) ;; *) usage_error "--engines takes threads, evloop and tokio, not '$e'" ;; esac
done
command -v python3 >/dev/null || die "needs python3"
from_caller() { case "$1" in /*) echo "$1" ;; *) echo "$caller/$1" ;; esac; }
bin="$([ -n "$bin" ] && from_caller "$bin" || echo "$PWD/target/release")"

# program ENGINE SIDE: the engine's program for that side.
program() {
  case "$1" in
    threads) echo "$2" ;;
    *) echo "$2-$1" ;;
  esac
}
for e in "${engine_list[@]}"; do
  for side in server client; do
    [ -x "$bin/$(program "$e" "$side")" ] ||
      die "$bin/$(program "$e" "$side") is missing: run cargo build --release --workspace (or give --bin DIR)"
  done
done
[ -x "$bin/omclient" ] || die "$bin/omclient is missing: run cargo build --release --workspace"

# The method: perf when it can count syscall tracepoints here (little
# distortion), else strace.
perf_works() {
  command -v perf >/dev/null && perf stat -e raw_syscalls:sys_enter -- true >/dev/null 2>&1
}
if [ "$method" = auto ]; then
  if perf_works; then
    method=perf
    say "method: perf (syscall tracepoints counted in the kernel; no stop per call)"
  elif command -v strace >/dev/null; then
    method=strace
    say "method: strace (perf cannot count syscall tracepoints here: needs perf, and root or kernel.perf_event_paranoid = -1)"
  else
    die "neither perf (with tracepoints) nor strace is usable here"
  fi
elif [ "$method" = perf ]; then
  perf_works || die "perf cannot count syscalls:* tracepoints here (is perf installed? needs root or kernel.perf_event_paranoid = -1); try --method strace"
else
  command -v strace >/dev/null || die "strace is not installed"
fi

bench_ports_free "$base_port" "$servers"
commit="$(bench_commit)"
machine="$(bench_machine)"
out="$([ -n "$out" ] && from_caller "$out" || echo "$PWD/target/engine-syscalls/$(date -u +%Y%m%dT%H%M%SZ)/syscalls.csv")"
work="$(dirname "$out")"
mkdir -p "$work"
# A thousand links are a thousand descriptors, and perf takes one per
# syscall and thread: keep descriptor limits out of what is measured.
ulimit -n 1048576 2>/dev/null || ulimit -n "$(ulimit -Hn)"

# Every process this script starts, so the trap stops those and no other.
# shellcheck source=scripts/pids-lib.sh
. scripts/pids-lib.sh
stop_started_on_exit

now() { date +%s.%N; }

# updates_now CONFIG: the updates every server of CONFIG has stored.
updates_now() {
  local counts
  counts="$(bench_stats "$bin/omclient" "$1" engine-syscalls)"
  echo "$counts" | awk '{ print $2 }'
}

# links_up DIR: the links up, summed over the last status line of each
# client's stderr (`[3s] links 100/100 ...`, one a second).
links_up() {
  local f n total=0
  for f in "$1"/client-*.err; do
    [ -f "$f" ] || continue # a client just started may not have opened it yet
    n="$(grep -o 'links [0-9]*/' "$f" | tail -n 1 | tr -dc 0-9)"
    total=$((total + ${n:-0}))
  done
  echo "$total"
}

# The syscalls of --syscalls that this kernel has tracepoints for, as
# perf events, with raw_syscalls:sys_enter (every syscall) first.
perf_events() {
  local s events=raw_syscalls:sys_enter wanted
  IFS=, read -r -a wanted <<<"$syscalls"
  for s in "${wanted[@]}"; do
    if perf stat -e "syscalls:sys_enter_$s" -- true >/dev/null 2>&1; then
      events+=",syscalls:sys_enter_$s"
    else
      say "no tracepoint syscalls:sys_enter_$s here: counted under other"
    fi
  done
  echo "$events"
}

# The window's edges: the time, the servers' updates, and each side's
# CPU ticks (the time first at both edges, so the query's own delay
# shifts both edges alike); facts PREFIX writes the window as
# "PREFIXname value" lines.
mark_start() { t0="$(now)" u0="$(updates_now "$config")" s0="$(cpu_ticks "${server_pids[@]}")" c0="$(cpu_ticks "${client_pids[@]}")"; }
mark_end() { t1="$(now)" u1="$(updates_now "$config")" s1="$(cpu_ticks "${server_pids[@]}")" c1="$(cpu_ticks "${client_pids[@]}")"; }
facts() {
  echo "${1}updates $((u1 - u0))"
  echo "${1}window_s $(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')"
  echo "${1}server_ticks $((s1 - s0))"
  echo "${1}client_ticks $((c1 - c0))"
}

# counted TOOL SIDE PID FILE PATTERN: reaps the counting TOOL's PID and
# fails unless its FILE holds PATTERN (its total). Its exit status says
# nothing: perf stat exits non-zero on the INT that ends it.
counted() {
  wait "$3" || true
  grep -q -- "$5" "$4" 2>/dev/null || die "$engine: $1 ($2) counted nothing; see $4.err"
}

# traced_perf DIR: the window counted by perf, one perf per side, each
# attached with its events disabled and enabled only for the window.
traced_perf() {
  local dir="$1" side ctl ack tasks p need
  local -A perf_pid=() ctl_fd=() ack_fd=()
  for side in server client; do
    local -n pids="${side}_pids"
    # perf opens one descriptor per event and thread.
    tasks=0
    for p in "${pids[@]}"; do tasks=$((tasks + $(find "/proc/$p/task" -mindepth 1 -maxdepth 1 | wc -l))); done
    need=$((tasks * $(tr -cd , <<<"$events" | wc -c) + tasks + 64))
    [ "$need" -le "$(ulimit -n)" ] ||
      die "$engine: perf needs about $need descriptors for the ${side}s' $tasks threads, and the limit is $(ulimit -n): raise it (ulimit -Hn as root) or list fewer --syscalls"
    # Commands go down a fifo (opened read-write here, so its open does
    # not wait for perf's); perf's acks go to a plain file this script
    # polls (bash's `read -t` on a fifo, in a loop, aborted with "longjmp
    # causes uninitialized stack frame" in a check).
    mkfifo "$dir/$side.ctl"
    exec {ctl}<>"$dir/$side.ctl" {ack}>"$dir/$side.ack"
    ctl_fd[$side]=$ctl ack_fd[$side]=$ack
    perf stat -x, -D -1 --control "fd:$ctl,$ack" -e "$events" -o "$dir/$side.perf" \
      -p "$(IFS=,; echo "${pids[*]}")" 2>"$dir/$side.perf.err" &
    perf_pid[$side]=$!
    started+=($!)
    unset -n pids
  done
  # perf reads its control only once every thread is attached, so its
  # ack says the counting starts (or stops) now.
  perf_control() { # COMMAND ACKS: ACKS is how many acks each perf has written after it
    local tenth
    for side in server client; do
      echo "$1" >&"${ctl_fd[$side]}"
      for tenth in $(seq 1201); do
        # (perf ends each "ack\n" with a NUL byte: count the words)
        [ "$(grep -ao ack "$dir/$side.ack" | wc -l)" -lt "$2" ] || break
        kill -0 "${perf_pid[$side]}" 2>/dev/null ||
          die "$engine: perf ($side) ended: $(grep -v '^Events' "$dir/$side.perf.err" | head -n 3 | tr '\n' ' ')"
        [ "$tenth" -le 1200 ] || die "$engine: perf ($side) did not acknowledge '$1' within 120 s; see $dir/$side.perf.err"
        sleep 0.1
      done
    done
  }
  perf_control enable 1
  mark_start
  sleep "$window"
  perf_control disable 2
  mark_end
  stop_pids "INT TERM KILL" 30 "${perf_pid[@]}"
  for side in server client; do
    counted perf "$side" "${perf_pid[$side]}" "$dir/$side.perf" ',raw_syscalls:sys_enter,'
    ctl="${ctl_fd[$side]}" ack="${ack_fd[$side]}"
    exec {ctl}>&- {ack}>&-
    # "count,,event,..." -> "syscall calls"; perf's total less the listed
    # ones is `other` (never below 0: the events are enabled one after
    # another, so at the window's edges the total may miss a few calls a
    # listed event counted).
    awk -F, '!/^#/ && NF > 3 {
        name = $3; sub(/^syscalls:sys_enter_/, "", name); sub(/^raw_syscalls:sys_enter$/, "total", name)
        n = ($1 ~ /^[0-9]+$/) ? $1 : 0
        print name, n
        if (name == "total") total = n; else listed += n
      } END { print "other", (total > listed) ? total - listed : 0 }' "$dir/$side.perf" >"$dir/$side.counts"
  done
}

# traced_strace DIR: the window counted by strace -c -f, one per side.
# The window starts once strace says it has attached every thread, and
# ends just before it is told to detach: the threads attached first, and
# every thread until it detaches, are counted a little longer than the
# window (a fraction of a second against --window).
traced_strace() {
  local dir="$1" side p args deadline
  local -A strace_pid=()
  for side in server client; do
    local -n pids="${side}_pids"
    args=()
    for p in "${pids[@]}"; do args+=(-p "$p"); done
    # stderr gets "Process N attached [with K threads]" per process once
    # all its threads are, -o the summary.
    strace -c -f -o "$dir/$side.strace" "${args[@]}" 2>"$dir/$side.strace.err" &
    strace_pid[$side]=$!
    started+=($!)
    deadline=$((SECONDS + 60))
    while [ "$(grep -c ' attached' "$dir/$side.strace.err" || true)" -lt ${#pids[@]} ]; do
      [ $SECONDS -lt $deadline ] || die "$engine: strace ($side) did not attach to all ${#pids[@]} processes in 60 s"
      sleep 0.1
    done
    unset -n pids
  done
  mark_start
  sleep "$window"
  mark_end
  stop_pids "INT TERM KILL" 30 "${strace_pid[@]}"
  for side in server client; do
    counted strace "$side" "${strace_pid[$side]}" "$dir/$side.strace" ' total$'
    # Rows "% seconds usecs/call calls [errors] syscall", the last `total`.
    awk '$1 ~ /^[0-9.]+$/ { print $NF, $4 }' "$dir/$side.strace" >"$dir/$side.counts"
  done
}

# start_servers DIR: one server per port, each listening before it returns.
start_servers() {
  local dir="$1" i p
  for p in "${ports[@]}"; do
    "$bin/$(program "$engine" server)" --config "$config" --ip 127.0.0.1 --port "$p" "${engine_args[@]}" \
      >"$dir/server-$p.log" 2>&1 &
    server_pids+=($!) started+=($!)
  done
  for i in "${!ports[@]}"; do
    p="${ports[$i]}"
    for _ in $(seq 100); do
      grep -qs 'listening on' "$dir/server-$p.log" && break
      kill -0 "${server_pids[$i]}" 2>/dev/null ||
        die "$engine: the server on port $p ended: $(tail -n 3 "$dir/server-$p.log")"
      sleep 0.1
    done
    grep -q 'listening on' "$dir/server-$p.log" || die "$engine: the server on port $p did not listen within 10 s"
  done
}

# start_clients DIR RUN_S: the links packed into the client processes,
# link k of client i to server (i + k) mod servers; each ends after RUN_S
# seconds if this script cannot end it.
start_clients() {
  local dir="$1" run_s="$2" i k mine args
  for ((i = 0; i < clients; i++)); do
    mine=$((links / clients + (i < links % clients ? 1 : 0)))
    args=()
    for ((k = 0; k < mine; k++)); do args+=(--server "127.0.0.1:${ports[$(((i + k) % servers))]}"); done
    "$bin/$(program "$engine" client)" --config "$config" --id "$i" --clients "$clients" \
      --duration "${run_s}s" --json "${args[@]}" "${engine_args[@]}" \
      >"$dir/client-$i.json" 2>"$dir/client-$i.err" &
    client_pids+=($!) started+=($!)
  done
}

# client_errors DIR...: errors and reconnects summed over the clients'
# reports (the whole run), a check that the point ran clean.
client_errors() {
  python3 - "$@" <<'PY'
import json, sys
errors = reconnects = 0
for path in sys.argv[1:]:
    try:
        status = json.load(open(path))["status"]
    except (OSError, ValueError, KeyError):
        sys.exit(f"engine-syscalls: no report in {path}")
    errors += status["errors"]
    reconnects += status["reconnects"]
print("errors", errors)
print("reconnects", reconnects)
PY
}

# run_engine ENGINE: the point on ENGINE, its files in $work/ENGINE.
run_engine() {
  engine="$1"
  local dir="$work/$engine" deadline
  mkdir -p "$dir"
  config="$dir/config.json"
  cat >"$config" <<EOF
{ "server_ip_list": "127.0.0.1", "server_port_list": "$(IFS=';'; echo "${ports[*]}")",
  "client_num_per_host": $clients, "update_intervals": $interval, "schedule": "fixed-rate",
  "server_max_links": 1000000, "connect_timeout_ms": 20000 }
EOF
  engine_args=()
  if [ -n "$threads" ] && [ "$engine" != threads ]; then engine_args=(--threads "$threads"); fi
  server_pids=() client_pids=()

  # Bounds: connecting gets 30 s and a second per 1,000 links; the first
  # updates, staggered over the interval, two intervals (2 s at least).
  local connect_s=$((30 + links / 1000)) settle_s=$((2 + 2 * interval / 1000))
  start_servers "$dir"
  start_clients "$dir" $((connect_s + settle_s + 2 * window + 60))
  deadline=$((SECONDS + connect_s))
  while [ "$(links_up "$dir")" -lt "$links" ]; do
    [ $SECONDS -lt $deadline ] ||
      die "$engine: only $(links_up "$dir") of $links links up after ${connect_s}s; see $dir/client-*.err"
    sleep 0.2
  done
  say "$engine: $links links up; settling ${settle_s}s, then an untraced and a traced ${window}s window"
  sleep "$settle_s"

  mark_start
  sleep "$window"
  mark_end
  facts untraced_ >"$dir/facts"
  "traced_$method" "$dir"
  facts "" >>"$dir/facts"

  stop_pids "INT TERM KILL" 30 "${client_pids[@]}"
  stop_pids "INT TERM KILL" 30 "${server_pids[@]}"
  client_errors "$dir"/client-*.json >>"$dir/facts"
  started=()
}

events=""
if [ "$method" = perf ]; then events="$(perf_events)"; fi
say "$servers servers on 127.0.0.1:${ports[0]}-${ports[-1]}, $clients clients, $links links at $interval ms, ${window}s windows; files in $work"
for e in "${engine_list[@]}"; do run_engine "$e"; done
python3 scripts/engine_syscalls.py --work "$work" --out "$out" --engines "$engines" \
  --links "$links" --interval "$interval" --method "$method" --commit "$commit" \
  --machine "$machine" --ticks "$(getconf CLK_TCK)"
