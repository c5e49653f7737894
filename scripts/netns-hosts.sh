#!/usr/bin/env bash
# Many hosts, for real: three hosts as Linux network namespaces on one
# bridge, all running `startup` with one shared config.
#
#   host A 198.18.0.1   servers (3 ports) + clients
#   host B 198.18.0.2   servers (3 ports) + clients
#   host C 198.18.0.3   clients only (its address is not in server_ip_list)
#
# Each of the 9 clients links to each of the 6 servers: 54 links, one update
# per link every 100 ms. Mid-run, host B is cut off the bridge for 5 s: the
# links to and from B break (each break leaves one unacked update) and
# reconnect once B is back. omclient runs from host C before, during and
# after the cut; at the end `omclient verify --reports` merges the three
# hosts' reports into one verdict, key by key.
#
# Addresses come from 198.18.0.0/15, the range reserved for benchmarks
# (RFC 2544). The bridge lives in a namespace of its own, so nothing is
# added to the machine's own network: all traffic stays inside the
# namespaces. Everything is named with a per-run prefix and torn down at
# the end, also on Ctrl-C or an error.
#
# Usage (as root): scripts/netns-hosts.sh [--out DIR] [--duration SECONDS]
#   --out DIR        keep the config, reports and logs in DIR
#                    [default: a temporary directory, removed at the end]
#   --duration S     how long each host's clients run [default: 20]
# Exit status: 0 when the merged verdict is OK and the cut behaved as
# expected, 1 when not, 2 when the script cannot run.
set -euo pipefail
cd "$(dirname "$0")/.."

OUT=""
DURATION=20
while [ $# -gt 0 ]; do
  case "$1" in
    --out) OUT="$2"; shift 2 ;;
    --duration) DURATION="$2"; shift 2 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "netns-hosts.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
# Links up (~2 s), 3 s of traffic, the 5 s cut, reconnects (~2 s), and
# some traffic after: the run must be long enough to hold all of it.
if ! [[ "$DURATION" =~ ^[0-9]+$ ]] || [ "$DURATION" -lt 15 ]; then
  echo "netns-hosts.sh: --duration must be a whole number of seconds, at least 15 (the cut needs room)" >&2
  exit 2
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "netns-hosts.sh: must run as root: it creates network namespaces and a bridge" >&2
  echo "  (sudo scripts/netns-hosts.sh)" >&2
  exit 2
fi
command -v ip >/dev/null || { echo "netns-hosts.sh: needs the ip command (iproute2)" >&2; exit 2; }

say() { printf '\n== %s\n' "$*"; }

# ---------------------------------------------------------------- teardown
P="mch$$"              # every namespace of this run starts with this prefix
CREATED=()             # namespaces this run created: the only ones it deletes
STARTED=()             # PIDs of the startups this run started
TMP=""
# shellcheck source=scripts/netns-lib.sh
. scripts/netns-lib.sh
cleanup() {
  local status=$?
  trap - EXIT INT TERM
  # startups first (each stops its own children), then whatever still runs
  # in our namespaces, then the namespaces (scripts/netns-lib.sh).
  netns_teardown
  if [ -n "$TMP" ]; then rm -rf "$TMP"; fi
  exit "$status"
}
trap cleanup EXIT
trap 'echo "netns-hosts.sh: interrupted; tearing down" >&2; exit 130' INT TERM

# ---------------------------------------------------------------- build
say "build (cargo build --release)"
cargo build --release --quiet
BIN="$PWD/target/release"

if [ -z "$OUT" ]; then
  TMP=$(mktemp -d /tmp/mass_connect-netns.XXXXXX)
  OUT="$TMP"
else
  mkdir -p "$OUT"
fi
OUT=$(cd "$OUT" && pwd)

# ---------------------------------------------------------------- network
say "network: namespaces $P-{sw,a,b,c}, bridge br0 in $P-sw, 198.18.0.0/24"
# One veth pair per host: "eth0" in the host, "port-$h" on the bridge.
netns_hosts "$P" a=198.18.0.1 b=198.18.0.2 c=198.18.0.3

# ---------------------------------------------------------------- config
# Short timeouts so the 5 s cut shows within the run: a link waits 2 s for an
# ack before it is called broken; servers close a silent link after 10 s.
# Servers listen outside loopback, so an ops_token is required.
CFG="$OUT/config.json"
cat >"$CFG" <<EOF
{
  "server_ip_list": "198.18.0.1;198.18.0.2",
  "server_port_list": "18677;18678;18679",
  "client_num_per_host": 3,
  "update_intervals": 100,
  "ops_token": "netns-$P-$RANDOM$RANDOM",
  "request_timeout_ms": 2000,
  "connect_timeout_ms": 1000,
  "reconnect_initial_ms": 50,
  "reconnect_max_ms": 1000,
  "idle_timeout_ms": 10000
}
EOF
LINKS=18   # per host: 3 clients x 6 servers

# ---------------------------------------------------------------- helpers
declare -A PID
# Waits for a line matching $2 in host $1's status output, at most $3 s;
# with $4 = new, only for lines written from now on. Fails at once if that
# host's startup exits (tail --pid).
wait_line() {
  local from="+1"
  [ "${4:-}" = new ] && from="0"
  grep -q -m1 -- "$2" < <(timeout "$3" tail -n "$from" -F --pid="${PID[$1]}" "$OUT/$1.err" 2>/dev/null)
}
om() { ip netns exec "$P-c" "$BIN/omclient" --config "$CFG" "$@"; }
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

# ---------------------------------------------------------------- run
say "run: startup on hosts A, B and C, one shared config, ${DURATION}s each"
for h in a b c; do
  ip netns exec "$P-$h" "$BIN/startup" --config "$CFG" --duration "${DURATION}s" \
    --drain-timeout 30s --report "$OUT/$h.json" >"$OUT/$h.out" 2>"$OUT/$h.err" &
  PID[$h]=$!
  STARTED+=("$!")
done
T0=$(now)
for h in a b c; do
  if ! wait_line "$h" "links $LINKS/$LINKS " 30; then
    echo "netns-hosts.sh: host ${h^^} did not get all $LINKS links up within 30 s; its output:" >&2
    cat "$OUT/$h.err" >&2
    exit 1
  fi
done
echo "all links up on every host after $(elapsed "$T0") s"

say "omclient servers, from host C"
om servers || true
say "omclient stats, from host C"
om stats || true

# Some steady traffic before the cut: this pause is part of the experiment.
sleep 3
say "cut: host B off the bridge for 5 s (at $(elapsed "$T0") s)"
ip -n "$P-sw" link set "port-b" nomaster
CUT_AT=$(now)
set +e
DURING=$(om servers 2>&1)
DURING_STATUS=$?
set -e
echo "$DURING"
# The cut's length is the experiment; what remains of the 5 s after omclient.
sleep "$(awk -v a="$CUT_AT" -v b="$(now)" 'BEGIN { r = 5 - (b - a); print (r > 0 ? r : 0) }')"
ip -n "$P-sw" link set "port-b" master br0
BACK_AT=$(now)
echo "host B back on the bridge after $(elapsed "$CUT_AT") s"
RECONNECTED=yes
for h in a b c; do
  if ! wait_line "$h" "links $LINKS/$LINKS " 20 new; then
    echo "host ${h^^}: links did not all come back within 20 s" >&2
    RECONNECTED=no
  fi
done
echo "links back on every host $(elapsed "$BACK_AT") s after the cut ended: $RECONNECTED"
say "omclient stats, from host C, after the cut"
om stats || true

say "waiting for the three startups to finish (clients stop, servers drain)"
declare -A CODE
for h in a b c; do
  set +e
  wait "${PID[$h]}"
  CODE[$h]=$?
  set -e
done
STARTED=()
for h in a b c; do
  echo "host ${h^^}: startup exit status ${CODE[$h]}"
  grep -E '^  (host|throughput|updates|verify) ' "$OUT/$h.out" | tr -s ' ' | sed 's/^/   /'
done

# ---------------------------------------------------------------- verdict
say "merged verdict: omclient verify --reports a.json b.json c.json (from host C)"
set +e
VERDICT=$(cd "$OUT" && ip netns exec "$P-c" "$BIN/omclient" verify --config "$CFG" \
  --reports a.json b.json c.json 2>&1)
VERDICT_STATUS=$?
set -e
echo "$VERDICT"

# ---------------------------------------------------------------- checks
say "summary"
FAIL=0
check() { # description, condition result (0 = passed)
  if [ "$2" -eq 0 ]; then echo "  ok    $1"; else echo "  FAIL  $1"; FAIL=1; fi
}
b_down=$(grep -cE '^198\.18\.0\.2:[0-9]+ +DOWN +unreachable' <<<"$DURING" || true)
a_up=$(grep -cE '^198\.18\.0\.1:[0-9]+ +up ' <<<"$DURING" || true)
check "during the cut, omclient on C marked B's 3 servers unreachable ($b_down) and A's 3 up ($a_up)" \
  "$([ "$b_down" -eq 3 ] && [ "$a_up" -eq 3 ] && [ "$DURING_STATUS" -eq 1 ]; echo $?)"
check "after the cut, every host's links came back ($LINKS/$LINKS on A, B and C)" \
  "$([ "$RECONNECTED" = yes ]; echo $?)"
for h in a c; do
  n=$(grep -E "^  $h\.json " <<<"$VERDICT" | grep -oE '198\.18\.0\.2:[0-9]+ [0-9]+' | awk '{ s += $2 } END { print s + 0 }')
  check "host ${h^^}'s report counts unacked updates to B's servers: $n" "$([ "$n" -gt 0 ]; echo $?)"
done
n=$(grep -E "^  b\.json " <<<"$VERDICT" | grep -oE '198\.18\.0\.1:[0-9]+ [0-9]+' | awk '{ s += $2 } END { print s + 0 }')
check "host B's report counts unacked updates to A's servers: $n" "$([ "$n" -gt 0 ]; echo $?)"
# The cut takes links down for a while, so a host's verdict may FAIL on
# "fewer links than planned" (docs/REPORT.md: "The verdict"); what each host must
# still do is verify its own clients exactly, and exit 0 or 1, never 2.
for h in a b c; do
  ok=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["verify"]["ok"])' "$OUT/$h.json" 2>/dev/null || echo missing)
  reasons=$(python3 -c 'import json,sys; print("; ".join(json.load(open(sys.argv[1])).get("verdict_reasons", [])) or "none")' "$OUT/$h.json" 2>/dev/null || echo "no report")
  echo "  host ${h^^} verdict reasons: $reasons"
  check "host ${h^^}: startup verified its own clients (verify.ok $ok, exit status ${CODE[$h]})" \
    "$([ "$ok" = True ] && [ "${CODE[$h]}" -le 1 ]; echo $?)"
done
check "merged verdict over the three hosts is OK" "$VERDICT_STATUS"
if [ -z "$TMP" ]; then echo "  config, reports and logs: $OUT"; fi
exit "$FAIL"
