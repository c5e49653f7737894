#!/usr/bin/env bash
# The connect storm (issue 26 item 4): a host's links all connecting at
# once against the same links brought up by `connect_rate`, measured by
# what the programs report and by what the kernel counted.
#
#   scripts/connect-storm.sh [--bin DIR] [--label NAME] [--layout L]
#       [--clients N] [--servers N] [--links N] [--rates "0 2000"]
#       [--rounds N] [--duration D] [--commit C] [--out CSV]
#
# Two layouts of 10,000 links by default:
#   --layout startup     `startup` with --clients x --servers (1,000 x 10):
#                        the product's own way, one link per client and
#                        server, the clients spawned one after another;
#   --layout one-server  --clients standalone `client`s (10) started at once,
#                        each with --links links (1,000) to one server, as
#                        tcpkali -c 10000 would open them: the burst a
#                        listen queue meets when many hosts' links share a
#                        server. The time to all-up is when `ss` first
#                        counts every link established on the clients'
#                        side (polled every 50 ms).
#
# Each run is in a network namespace of its own, so the kernel's TCP
# counters (/proc/net/netstat and /proc/net/snmp, read inside it) count this
# run and nothing else on the machine; at a 1 s interval, so the load after
# the connect is light and the connect is what is measured. Rates are taken
# in turn within each round (0 = every link at once), so a machine that
# slows down mid-way slows every rate alike. Per run, one CSV row (appended
# to --out, header written when new):
#
#   commit, machine, label, layout, rate, links, connect_s (to all-up),
#   links_up (at the go, or at the end of the wait), connect_errors (failed
#   or timed-out attempts), reconnects, verdict (startup's; `-` for the
#   one-server layout), and the kernel's deltas: ListenOverflows and
#   ListenDrops (SYNs dropped at a full accept queue), TCPReqQFullDrop,
#   SyncookiesSent, Tcp AttemptFails, Tcp RetransSegs.
#
# Needs root (ip netns), python3 and the release programs (cargo build
# --release --workspace, or --bin DIR holding server, client, startup and
# omclient), and ss (iproute2). Traffic stays on the namespace's own loopback.
set -euo pipefail
cd "$(dirname "$0")/.."

bin="target/release" commit="" label="" layout=startup clients="" servers=10 links=1000
rates="0 2000" rounds=3 duration=10s out="docs/img/connect-storm.csv"
while [ $# -gt 0 ]; do
  case "$1" in
    --bin) bin="$2"; shift 2 ;;
    --label) label="$2"; shift 2 ;;
    --layout) layout="$2"; shift 2 ;;
    --clients) clients="$2"; shift 2 ;;
    --links) links="$2"; shift 2 ;;
    --servers) servers="$2"; shift 2 ;;
    --rates) rates="$2"; shift 2 ;;
    --rounds) rounds="$2"; shift 2 ;;
    --duration) duration="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    --commit) commit="$2"; shift 2 ;;
    -h|--help) sed -n '2,41p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "connect-storm: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
case "$layout" in
  startup) clients="${clients:-1000}" ;;
  one-server) clients="${clients:-10}" ;;
  *) echo "connect-storm: --layout is startup or one-server, not $layout" >&2; exit 2 ;;
esac
bin="$(cd "$bin" && pwd)"
for p in server client startup omclient; do
  [ -x "$bin/$p" ] || { echo "connect-storm: $bin/$p is missing; run cargo build --release --workspace" >&2; exit 1; }
done
[ "$(id -u)" -eq 0 ] || { echo "connect-storm: needs root (ip netns)" >&2; exit 1; }
label="${label:-$(basename "$bin")}"

# The commit the programs were built from (--commit, when --bin holds
# another build than this checkout's).
commit="${commit:-$(git rev-parse --short HEAD)$(git diff --quiet HEAD -- src engines || echo -dirty)}"
machine="$(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo), $(nproc) CPUs, kernel $(uname -r)"
ns="mc-storm-$$"
work="$(mktemp -d)"
cleanup() {
  ip netns del "$ns" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT INT TERM
# 10,000 links to one server are 10,000 descriptors in it: keep the
# descriptor limit out of what is measured.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
ip netns add "$ns"
ip netns exec "$ns" ip link set lo up

# The kernel counters this script compares, as "name value" lines.
counters() {
  ip netns exec "$ns" python3 - <<'EOF'
def table(path):
    lines = open(path).read().split("\n")
    out = {}
    for head, vals in zip(lines[0::2], lines[1::2]):
        if not head:
            continue
        prefix, names = head.split(":", 1)
        _, values = vals.split(":", 1)
        for n, v in zip(names.split(), values.split()):
            out[f"{prefix}.{n}"] = int(v)
    return out
t = {**table("/proc/net/netstat"), **table("/proc/net/snmp")}
for k in ["TcpExt.ListenOverflows", "TcpExt.ListenDrops", "TcpExt.TCPReqQFullDrop",
          "TcpExt.SyncookiesSent", "Tcp.AttemptFails", "Tcp.RetransSegs"]:
    print(k, t.get(k, 0))
EOF
}

if [ "$layout" = startup ]; then
  ports="$(seq -s ';' 28700 $((28699 + servers)))"
else
  ports=28700
fi
cat >"$work/config.json" <<EOF
{ "server_ip_list": "127.0.0.1", "server_port_list": "$ports",
  "client_num_per_host": $clients, "update_intervals": 1000,
  "server_max_links": 1000000, "connect_rate": @RATE@ }
EOF
[ -f "$out" ] || echo "commit,machine,label,layout,rate,links,connect_s,links_up,connect_errors,reconnects,verdict,listen_overflows,listen_drops,reqq_full_drops,syncookies_sent,attempt_fails,retrans_segs" >"$out"

# One startup run; prints "links,connect_s,links_up,connect errors,
# reconnects,verdict".
startup_run() {
  local report="$work/r.json"
  rm -f "$report"
  # Every run is bounded: the duration, the deadline, the stop, and this.
  timeout 300 ip netns exec "$ns" "$bin/startup" --config "$work/run.json" -d "$duration" -q \
    --report "$report" --connect-deadline 30s >"$work/out.txt" 2>&1 || true
  [ -s "$report" ] || { tail -5 "$work/out.txt" >&2; return 1; }
  python3 - "$report" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
print(",".join(str(x) for x in [r["links"], round(r["connect_s"], 2), r["links_up_at_go"],
      r["error_kinds"]["connect"], r["reconnects"], r["verdict"]]))
EOF
}

# One one-server run: the server, then every client at once; the server's
# clients' established links counted (`ss`, every 50 ms) until all are up,
# for at most the run's duration.
one_server_run() {
  local pids=() i server_args=()
  ip netns exec "$ns" "$bin/server" --config "$work/run.json" --ip 127.0.0.1 --port 28700 \
    >"$work/server.txt" 2>&1 &
  local server=$!
  for _ in $(seq 1 100); do
    grep -q "listening" "$work/server.txt" && break
    sleep 0.05
  done
  for _ in $(seq 1 "$links"); do server_args+=(--server 127.0.0.1:28700); done
  local began poll_for
  began=$(date +%s.%N)
  poll_for=$(python3 -c "import sys; d=sys.argv[1]; print(float(d[:-1]) * {'s': 1, 'm': 60}[d[-1]])" "$duration")
  for i in $(seq 0 $((clients - 1))); do
    timeout 300 ip netns exec "$ns" "$bin/client" --config "$work/run.json" --id "$i" \
      --clients "$clients" --duration "$duration" --json "${server_args[@]}" \
      >"$work/client-$i.json" 2>/dev/null &
    pids+=($!)
  done
  python3 - "$ns" "$((clients * links))" "$began" "$poll_for" >"$work/upat" <<'EOF'
import subprocess, sys, time
ns, want, began, limit = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
# The clients' side of the links, established: a connect() that returned.
# (The server's own count would need a connection through the very queue
# being measured.)
ss = ["ip", "netns", "exec", ns, "ss", "-Htn", "state", "established", "( dport = :28700 )"]
up = 0
while time.time() < began + limit:
    up = subprocess.run(ss, capture_output=True, text=True).stdout.count("\n")
    if up >= want:
        break
    time.sleep(0.05)
print(f"{time.time() - began:.2f},{up}")
EOF
  for pid in "${pids[@]}"; do wait "$pid" || true; done
  kill -INT "$server" 2>/dev/null || true
  wait "$server" || true
  python3 - "$work" "$clients" "$(cat "$work/upat")" <<'EOF'
import json, sys
work, clients, upat = sys.argv[1], int(sys.argv[2]), sys.argv[3]
links = errors = reconnects = 0
for i in range(clients):
    s = json.load(open(f"{work}/client-{i}.json"))["status"]
    links += s["links"]; errors += s["error_kinds"]["connect"]; reconnects += s["reconnects"]
took, up = upat.split(",")
print(f"{links},{took},{up},{errors},{reconnects},-")
EOF
}

for round in $(seq 1 "$rounds"); do
  for rate in $rates; do
    sed "s/@RATE@/$rate/" "$work/config.json" >"$work/run.json"
    counters >"$work/before"
    if [ "$layout" = startup ]; then
      row=$(startup_run) || { echo "connect-storm: round $round at rate $rate left no report" >&2; exit 1; }
    else
      row=$(one_server_run) || { echo "connect-storm: round $round at rate $rate failed" >&2; exit 1; }
    fi
    counters >"$work/after"
    kernel=$(python3 - "$work/before" "$work/after" <<'EOF'
import sys
before = dict(l.split() for l in open(sys.argv[1]))
after = dict(l.split() for l in open(sys.argv[2]))
print(",".join(str(int(after[k]) - int(before[k])) for k in [
    "TcpExt.ListenOverflows", "TcpExt.ListenDrops", "TcpExt.TCPReqQFullDrop",
    "TcpExt.SyncookiesSent", "Tcp.AttemptFails", "Tcp.RetransSegs"]))
EOF
)
    echo "$commit,\"$machine\",$label,$layout,$rate,$row,$kernel" >>"$out"
    echo "round $round, $label, $layout, connect_rate $rate: $row,$kernel"
  done
done
echo "connect-storm: rows appended to $out"
