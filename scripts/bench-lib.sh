# shellcheck shell=bash
# The facts and checks a load run records and makes before it starts:
# shared by scripts/engine-syscalls.sh and scripts/tcpkali-anchor.sh
# (sourced, not run, from the repository's top; the sourcing script
# defines die and usage_error).

# whole NAME VALUE LEAST: VALUE (of option --NAME) is a whole number >= LEAST.
whole() {
  if ! [[ $2 =~ ^[0-9]+$ ]] || [ "$2" -lt "$3" ]; then usage_error "--$1 must be a whole number >= $3, not '$2'"; fi
}

# bench_port_room BASE COUNT: the ports BASE.. (COUNT of them) fit below 65536.
bench_port_room() {
  [ $(($1 + $2 - 1)) -le 65535 ] || usage_error "--base-port $1 leaves no room for $2 servers"
}

# bench_ports_free BASE COUNT: the ports BASE.. (COUNT of them) as the
# array `ports`, each checked free on 127.0.0.1 (dies otherwise).
bench_ports_free() {
  local p i
  ports=()
  for ((i = 0; i < $2; i++)); do ports+=($(($1 + i))); done
  for p in "${ports[@]}"; do
    # A connect that succeeds means something listens there already.
    if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      die "port $p on 127.0.0.1 is in use: choose another --base-port (it needs $2 free ports)"
    fi
  done
}

# bench_commit: HEAD's short hash, -dirty when the built code differs from it.
bench_commit() {
  local commit
  commit="$(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
  if [ "$commit" != unknown ] && ! git diff --quiet HEAD -- src engines benches crates Cargo.toml Cargo.lock; then
    commit="$commit-dirty"
  fi
  echo "$commit"
}

# bench_machine: "CPU model; N CPUs; linux KERNEL".
bench_machine() {
  echo "$(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo); $(nproc) CPUs; linux $(uname -r)"
}

# cpu_ticks PID...: user + system clock ticks of the processes, all threads.
cpu_ticks() {
  local p
  for p in "$@"; do cat "/proc/$p/stat"; done | awk '{ t += $14 + $15 } END { print t + 0 }'
}

# bench_stats OMCLIENT CONFIG WHO: "links updates anomalies keys" summed
# over every server of CONFIG (omclient stats); fails, naming WHO, when
# one did not answer. The links include omclient's own.
bench_stats() {
  "$1" --config "$2" stats --json | python3 -c '
import json, sys
d = json.load(sys.stdin)
t = d["totals"]
if t["servers_down"]:
    sys.exit("%s: %d servers did not answer omclient stats" % (sys.argv[1], t["servers_down"]))
print(t["links"], t["updates"], t["anomalies"], sum(s.get("keys", 0) for s in d["servers"]))' "$3"
}
