#!/usr/bin/env bash
# The soak under faults: a run of startup while servers and clients are
# killed and a host is cut off, then a check of the report's accounting.
# See --help.
set -euo pipefail

usage() {
    cat <<'EOF'
chaos.sh: run mass_connect under faults, then check that every update is
accounted for

USAGE:
    scripts/chaos.sh [DURATION] [--seed N] [--out DIR]

ARGUMENTS:
    DURATION    how long the clients run: 90s, 3m, 30m, 1h [default: 30m;
                at least 90s]

OPTIONS:
    --seed N    the seed of the fault schedule (when, what, whom, how long);
                printed at the start and in the last line, so a run can be
                replayed [default: a new one]
    --out DIR   keep the config, reports, samples, logs and output in DIR
                [default: a temporary directory, removed when the run
                passes, kept (and named) when it fails]
    -h, --help  this text

ENVIRONMENT:
    CHAOS_NETNS  1: two hosts in network namespaces, or stop (exit 2) if
                 they cannot be made; 0: one host on 127.0.0.1, no cuts
                 [default: namespaces when root and `ip netns add` works]

THE RUN. 20 clients x 5 servers, one update per link every 10 ms (10,000
updates/s: headroom on a small machine), logging on at debug (each client
logs the key of every connection it makes). With network namespaces (as
scripts/netns-hosts.sh makes them, 198.18.0.0/24 on a bridge of their own):
host A (198.18.0.1) runs the 5 servers and 10 clients, host B (198.18.0.2)
runs 10 clients only, both with one config; otherwise one host on
127.0.0.1 runs all 20 clients. Each startup runs with --duration DURATION
--report --samples (release build).

THE FAULTS. From 15 s after the go to 30 s before the end, at seeded
random moments, one of each per 10 minutes (at least one of each):
  - kill -9 a random server (a child of the startup this script started;
    startup restarts it);
  - kill -9 a random client (of either host; not restarted);
  - with namespaces, cut host B off the bridge (its port set down) for
    5-10 s: B's links break and reconnect.
Children are found by their parent, the startup this script started
(ps --ppid), never by name.

THE CHECK: the report's accounting, not its verdict (children died, so
the verdict FAILs, as it must). Over every host's report:
  - every acked update is on its server, key by key (exact, or the server
    one or more unacked updates ahead: in flight), or counted in a
    restarted server's lost updates (verify.lost_updates);
  - every unacked update is accounted per server (unacked_by_server), and
    sent = acked + unacked;
  - no key is doubled or short (no verify.mismatched_keys anywhere);
  - the keys on the servers that no report claims (verify.unclaimed_keys)
    are exactly the killed clients' (from their logs): their final reports
    died with them, so their acked updates are in no report and are
    accounted as the updates the servers counted on their keys;
  - every kill shows in the reports (children_died, server_restarts);
  - no process is left (none of the pids it saw, none mentioning its
    config, none in its namespaces);
  - each startup ended within its deadlines: duration + --wait-servers +
    --connect-deadline + --drain-timeout + the stop timeouts + 60 s.
It prints one line with the faults and the accounting, e.g.
  chaos: seed 42, 3m, 2 hosts, 1 server kill, 1 client kill, 1 cut; acked
  ... = on servers ... + lost with restarted servers ...; ...: OK

EXIT STATUS:
    0 the accounting is exact; 1 it is not (each failed check is named);
    2 the script could not run (bad arguments, build failure, ...).
EOF
}

say() { printf 'chaos: %s\n' "$*" >&2; }
die() { say "$*"; exit 2; }

# ---------------------------------------------------------------- arguments
duration="" seed="" outdir=""
while [[ $# -gt 0 ]]; do
    case "$1" in
        -h|--help) usage; exit 0 ;;
        --seed) [[ $# -ge 2 ]] || die "--seed needs a value"; seed="$2"; shift 2 ;;
        --out) [[ $# -ge 2 ]] || die "--out needs a directory"; outdir="$2"; shift 2 ;;
        -*) say "unknown option $1"; usage >&2; exit 2 ;;
        *) [[ -z "$duration" ]] || die "one DURATION only (see --help)"; duration="$1"; shift ;;
    esac
done
duration="${duration:-30m}"
to_seconds() {
    local text="$1"
    [[ "$text" =~ ^([0-9]+)(s|m|h)?$ ]] || return 1
    case "${BASH_REMATCH[2]:-s}" in
        s) echo "${BASH_REMATCH[1]}" ;;
        m) echo $((BASH_REMATCH[1] * 60)) ;;
        h) echo $((BASH_REMATCH[1] * 3600)) ;;
    esac
}
duration_s="$(to_seconds "$duration")" \
    || die "duration \"$duration\" is not a whole number of s, m or h (e.g. 90s, 3m, 30m)"
((duration_s >= 90)) || die "duration $duration is too short: at least 90s (the faults need room)"
if [[ -z "$seed" ]]; then
    seed=$(( ($(date +%s) ^ ($$ << 7) ^ RANDOM) % 1000000 ))
fi
[[ "$seed" =~ ^[0-9]{1,18}$ ]] || die "--seed must be a whole number"

script_dir="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd -- "$script_dir/.." && pwd)"
[[ -f "$repo/Cargo.toml" ]] || die "no Cargo.toml at $repo (the script must stay in scripts/)"
command -v python3 >/dev/null || die "python3 not found (the schedule and the check use it)"
command -v cargo >/dev/null || die "cargo not found"
command -v ps >/dev/null || die "ps not found (children are found with ps --ppid)"

# Network namespaces: root, the ip command, and a probe namespace that can
# be made (a container or an unprivileged runner has none of them).
netns=0
probe="mcc-probe-$$"
if [[ "${CHAOS_NETNS:-}" != 0 && "$(id -u)" -eq 0 ]] && command -v ip >/dev/null \
    && ip netns add "$probe" 2>/dev/null; then
    ip netns del "$probe" 2>/dev/null || true
    netns=1
elif [[ "${CHAOS_NETNS:-}" == 1 ]]; then
    die "CHAOS_NETNS=1 but network namespaces cannot be made here (needs root and 'ip netns add')"
fi

# ---------------------------------------------------------------- teardown
# shellcheck source=scripts/netns-lib.sh
. "$script_dir/netns-lib.sh"
P="mcc$$"          # every namespace of this run starts with this prefix
CREATED=()         # namespaces this run made: the only ones it deletes
STARTED=()         # pids of the startups this run started
declare -A STARTUP # host -> pid of its startup, while it runs
declare -A SEEN    # pid -> start time (/proc/PID/stat field 22) of every child seen
TMP=""
KEEP=0             # 1: keep the temporary directory (the run failed)
# The start time of a live process, or nothing: a pid alone may be reused.
start_time() {
    local stat
    stat="$(cat "/proc/$1/stat" 2>/dev/null)" || return 1
    stat="${stat##*) }"
    # shellcheck disable=SC2086 # split on purpose: the stat fields
    set -- $stat
    echo "${20}"
}
ours_alive() { [[ "$(start_time "$1" 2>/dev/null)" == "$2" ]]; }
cleanup() {
    local status=$? pid
    trap - EXIT INT TERM
    # The startups (each stops its own children), whatever runs in our
    # namespaces, the namespaces (scripts/netns-lib.sh); then any child
    # this run saw that still lives (same pid and start time).
    netns_teardown
    for pid in "${!SEEN[@]}"; do
        if ours_alive "$pid" "${SEEN[$pid]}"; then kill -KILL "$pid" 2>/dev/null || true; fi
    done
    if [[ -n "$TMP" ]]; then
        if [[ $KEEP == 1 || $status -ne 0 ]]; then
            say "kept the run's files for a look: $TMP"
        else
            rm -rf -- "$TMP"
        fi
    fi
    exit "$status"
}
trap cleanup EXIT
trap 'say "interrupted; tearing down"; exit 130' INT TERM

# ---------------------------------------------------------------- build
say "seed $seed, duration $duration ($duration_s s), $([[ $netns == 1 ]] && echo "two hosts in network namespaces" || echo "one host on 127.0.0.1 (no network namespaces here: no cuts)")"
say "building (cargo build --release in $repo)"
(cd "$repo" && cargo build --release --quiet) || die "cargo build --release failed"
bin="$repo/target/release"
for program in startup server client; do
    [[ -x "$bin/$program" ]] || die "$bin/$program missing after the build"
done

if [[ -z "$outdir" ]]; then
    TMP="$(mktemp -d /tmp/mass_connect-chaos.XXXXXX)"
    outdir="$TMP"
else
    mkdir -p -- "$outdir"
    [[ -z "$(ls -A -- "$outdir")" ]] || die "$outdir is not empty; pick a new directory"
fi
outdir="$(cd -- "$outdir" && pwd)"

# ---------------------------------------------------------------- layout
# In namespaces the ports are ours alone. On the machine's own loopback,
# two runs at once must not meet: ports from 29000-32499 by our pid (below
# the ephemeral range, away from soak.sh's 28701-28710).
if [[ $netns == 1 ]]; then base=28851; else base=$((29000 + ($$ % 700) * 5)); fi
ports=("$base" $((base + 1)) $((base + 2)) $((base + 3)) $((base + 4)))
if [[ $netns == 1 ]]; then
    hosts=(a b)
    server_ip=198.18.0.1
    clients_per_host=10
else
    hosts=(a)
    server_ip=127.0.0.1
    clients_per_host=20
fi
# Short timeouts, as scripts/netns-hosts.sh has them, so a cut shows within
# seconds: a link waits 2 s for an ack; servers close a silent link after
# 10 s. Restarts never run out. Servers outside loopback need a token.
cfg="$outdir/config.json"
cat >"$cfg" <<EOF
{
    "server_ip_list": "$server_ip",
    "server_port_list": "$(IFS=';'; echo "${ports[*]}")",
    "client_num_per_host": $clients_per_host,
    "update_intervals": 10,
    "log_switch": true,
    "log_level": "debug",
    "log_dir": "$outdir/logs",
    "ops_token": "chaos-$P-$seed",
    "request_timeout_ms": 2000,
    "connect_timeout_ms": 1000,
    "reconnect_initial_ms": 50,
    "reconnect_max_ms": 1000,
    "idle_timeout_ms": 10000,
    "server_restarts": 1000
}
EOF
wait_servers=30 connect_deadline=10 drain=30
stop_s=10   # stop_timeout_ms, the default: clients' stop, then servers'
# duration + waits + stops + 60 s for startup's own start, reads and report.
allowed_s=$((duration_s + wait_servers + connect_deadline + drain + 2 * stop_s + 60))
if ((duration_s >= 1800)); then sample_every=60s; else sample_every=10s; fi

# ---------------------------------------------------------------- network
if [[ $netns == 1 ]]; then
    say "network: namespaces $P-{sw,a,b}, bridge br0 in $P-sw, A 198.18.0.1, B 198.18.0.2"
    netns_hosts "$P" a=198.18.0.1 b=198.18.0.2
fi

# ---------------------------------------------------------------- schedule
# One server kill, one client kill and one cut per 10 minutes, at least one
# of each, in [15 s, duration - 30 s] after the go: the window is cut in
# equal slots, the faults shuffled into them, each at a random moment of
# its slot (leaving room for a cut's 5-10 s). `pick` chooses the victim
# among those alive then (modulo their number). The same seed gives the
# same schedule, with namespaces or without (cuts are then skipped).
schedule="$(python3 - "$seed" "$duration_s" <<'EOF'
import random, sys
seed, duration = int(sys.argv[1]), int(sys.argv[2])
rng = random.Random(seed)
each = max(1, round(duration / 600))
kinds = ["server"] * each + ["client"] * each + ["cut"] * each
rng.shuffle(kinds)
start, end = 15.0, duration - 30.0
slot = (end - start) / len(kinds)
for i, kind in enumerate(kinds):
    at = start + i * slot + rng.uniform(0, max(slot - 12.0, 0.5))
    print(f"{at:.1f} {kind} {rng.randrange(1 << 30)} {rng.uniform(5, 10):.1f}")
EOF
)"
mapfile -t plan <<<"$schedule"
say "fault schedule (seconds after the go, kind, pick, cut length):"
printf '    %s\n' "${plan[@]}" >&2

# ---------------------------------------------------------------- run
cmd_for() { # host -> startup's command line
    echo "$bin/startup" --config "$cfg" --duration "$duration" \
        --report "$outdir/$1.json" --samples "$outdir/$1.csv" --sample-every "$sample_every" \
        --wait-servers "${wait_servers}s" --connect-deadline "${connect_deadline}s" \
        --drain-timeout "${drain}s"
}
declare -A BEGAN ENDED CODE STARTED_PID
for h in "${hosts[@]}"; do
    # Not through a shell function: `$!` must be the command's own pid.
    host_prefix=()
    [[ $netns == 1 ]] && host_prefix=(ip netns exec "$P-$h")
    # shellcheck disable=SC2046 # the command line's words, none with blanks
    "${host_prefix[@]}" $(cmd_for "$h") >"$outdir/$h.out" 2>"$outdir/$h.err" &
    STARTUP[$h]=$!
    STARTED+=("$!")
    BEGAN[$h]=$SECONDS
done
# `ip netns exec` execs the command, so the pid is startup's own.
for h in "${hosts[@]}"; do
    for _ in $(seq 300); do   # at most 30 s: a loaded machine is slow to exec
        [[ "$(cat "/proc/${STARTUP[$h]}/comm" 2>/dev/null)" == startup ]] && break
        sleep 0.1
    done
    [[ "$(cat "/proc/${STARTUP[$h]}/comm" 2>/dev/null)" == startup ]] \
        || die "host $h: pid ${STARTUP[$h]} is not startup; its output: $(tail -n 5 "$outdir/$h.err")"
done
say "started: $(for h in "${hosts[@]}"; do printf 'host %s startup pid %s; ' "${h^^}" "${STARTUP[$h]}"; done)output in $outdir"

# The children of one host's startup, as "pid comm" lines; each is
# recorded (with its start time) for the check that none is left.
children() {
    local pid state comm t
    while read -r pid state comm; do
        [[ -n "$pid" ]] || continue
        t="$(start_time "$pid" 2>/dev/null)" || continue
        [[ -n "${SEEN[$pid]:-}" ]] || SEEN[$pid]="$t"
        # A zombie (dead, not yet reaped by startup) is no victim.
        [[ "$state" == Z* ]] || echo "$pid $comm"
    done < <(ps --ppid "${STARTUP[$1]}" -o pid=,stat=,comm= 2>/dev/null || true)
}
record_children() { local h; for h in "${hosts[@]}"; do children "$h" >/dev/null; done; }
# A child's place: the port of a server, the id of a client (its command line).
arg_after() { tr '\0' '\n' <"/proc/$1/cmdline" 2>/dev/null | grep -A1 -x -- "$2" | tail -n 1; }
running() { kill -0 "${STARTUP[$1]}" 2>/dev/null; }
any_running() { local h; for h in "${hosts[@]}"; do running "$h" && return 0; done; return 1; }

# The go: each startup prints "N of N links connected in T s; go".
go_at=""
for _ in $(seq 900); do   # at most 90 s
    record_children
    gone=0 all=1
    for h in "${hosts[@]}"; do
        running "$h" || gone=1
        grep -q 'links connected in .* s; go' "$outdir/$h.err" 2>/dev/null || all=0
    done
    if [[ $all == 1 ]]; then go_at=$SECONDS; break; fi
    [[ $gone == 1 ]] && break
    sleep 0.1
done
if [[ -z "$go_at" ]]; then
    KEEP=1
    for h in "${hosts[@]}"; do say "host ${h^^}: no go within 90 s; its output:"; tail -n 20 "$outdir/$h.err" >&2; done
    exit 1
fi
for h in "${hosts[@]}"; do say "host ${h^^}: $(grep -m1 'links connected in' "$outdir/$h.err" | sed 's/^startup: //')"; done

faults="$outdir/faults.tsv"   # at_s kind host pid what
: >"$faults"
server_kills=0 client_kills=0 cuts=0 cut_lengths=()
cut_until=""
kill_one() { # kind (server|client), pick
    local kind="$1" pick="$2" h pid comm key victims=()
    for h in "${hosts[@]}"; do
        [[ "$kind" == server && "$h" != a ]] && continue
        while read -r pid comm; do
            [[ "$comm" == "$kind" ]] || continue
            if [[ "$kind" == server ]]; then key="$(arg_after "$pid" --port)"; else key="$(arg_after "$pid" --id)"; fi
            [[ -n "$key" ]] && victims+=("$h $key $pid")
        done < <(children "$h")
    done
    if [[ ${#victims[@]} -eq 0 ]]; then
        say "no $kind alive to kill; skipped"
        return
    fi
    mapfile -t victims < <(printf '%s\n' "${victims[@]}" | sort -k1,1 -k2,2n)
    read -r h key pid <<<"${victims[$((pick % ${#victims[@]}))]}"
    local at=$((SECONDS - go_at)) what
    if [[ "$kind" == server ]]; then what="server $server_ip:$key"; else what="client $key"; fi
    kill -KILL "$pid" 2>/dev/null || { say "$what (pid $pid) was already gone"; return; }
    printf '%s\t%s\t%s\t%s\t%s\n' "$at" "$kind" "$h" "$pid" "$key" >>"$faults"
    if [[ "$kind" == server ]]; then server_kills=$((server_kills + 1)); else client_kills=$((client_kills + 1)); fi
    say "$at s: kill -9 $what of host ${h^^} (pid $pid)"
}
cut_begin() { # length
    local at=$((SECONDS - go_at))
    ip -n "$P-sw" link set port-b down
    cut_until=$(awk -v n="$SECONDS" -v l="$1" 'BEGIN { printf "%d", n + l + 0.5 }')
    cuts=$((cuts + 1)); cut_lengths+=("$1")
    printf '%s\tcut\tb\t-\t%s\n' "$at" "$1" >>"$faults"
    say "$at s: host B cut off (its bridge port down) for $1 s"
}
cut_end() {
    ip -n "$P-sw" link set port-b up
    cut_until=""
    say "$((SECONDS - go_at)) s: host B back on the bridge"
}

# Once a second: record the children, inject what is due, end a cut.
next=0
deadline=$((go_at + allowed_s))
for _ in $(seq $((allowed_s + 120))); do
    any_running || break
    ((SECONDS < deadline)) || break
    record_children
    if [[ -n "$cut_until" ]] && ((SECONDS >= cut_until)); then cut_end; fi
    while ((next < ${#plan[@]})); do
        read -r at kind pick length <<<"${plan[$next]}"
        awk -v a="$at" -v n="$((SECONDS - go_at))" 'BEGIN { exit !(n >= a) }' || break
        next=$((next + 1))
        case "$kind" in
            server|client) kill_one "$kind" "$pick" ;;
            cut)
                if [[ $netns == 0 ]]; then
                    say "$((SECONDS - go_at)) s: cut skipped (no network namespaces)"
                elif [[ -n "$cut_until" ]]; then
                    say "a cut is under way; this one skipped"
                else
                    cut_begin "$length"
                fi
                ;;
        esac
    done
    sleep 1
done
[[ -n "$cut_until" ]] && cut_end
if any_running; then
    KEEP=1
    say "a startup still runs $allowed_s s after the go (its deadline); stopping it"
fi
# Each startup's end: wait (bounded by the loop above and the TERM/KILL of
# the teardown) and take its exit status.
for h in "${hosts[@]}"; do
    for _ in $(seq 100); do running "$h" || break; sleep 0.1; done
    if running "$h"; then
        kill -TERM "${STARTUP[$h]}" 2>/dev/null || true
        for _ in $(seq 300); do running "$h" || break; sleep 0.1; done
    fi
    if running "$h"; then kill -KILL "${STARTUP[$h]}" 2>/dev/null || true; fi
    set +e
    wait "${STARTUP[$h]}"
    CODE[$h]=$?
    STARTED_PID[$h]=${STARTUP[$h]}
    set -e
    ENDED[$h]=$SECONDS
    say "host ${h^^}: startup exited with status ${CODE[$h]} after $((ENDED[$h] - BEGAN[$h])) s"
done
STARTUP=() STARTED=()

# ---------------------------------------------------------------- leftovers
# Children stop themselves when startup's pipes close; give them 20 s.
leftover=()
for _ in $(seq 200); do
    leftover=()
    for pid in "${!SEEN[@]}"; do ours_alive "$pid" "${SEEN[$pid]}" && leftover+=("$pid"); done
    [[ ${#leftover[@]} -eq 0 ]] && break
    sleep 0.1
done
# Any process mentioning the config (python reads /proc; its own command
# line does not hold the path, which comes in the environment).
mentioning="$(CHAOS_CFG="$cfg" python3 -c '
import os
cfg, me = os.environ["CHAOS_CFG"].encode(), os.getpid()
for pid in filter(str.isdigit, os.listdir("/proc")):
    try:
        if int(pid) != me and cfg in open(f"/proc/{pid}/cmdline", "rb").read():
            print(pid)
    except OSError:
        pass
')"
for pid in $mentioning; do [[ " ${leftover[*]} " == *" $pid "* ]] || leftover+=("$pid"); done
for ns in "${CREATED[@]}"; do
    for pid in $(ip netns pids "$ns" 2>/dev/null); do [[ " ${leftover[*]} " == *" $pid "* ]] || leftover+=("$pid"); done
done
for pid in "${leftover[@]}"; do say "left over: pid $pid: $(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null)"; done

# ---------------------------------------------------------------- check
walls=()
for h in "${hosts[@]}"; do walls+=("$((ENDED[$h] - BEGAN[$h]))"); done
set +e
CHAOS_SEED="$seed" CHAOS_DURATION="$duration" CHAOS_HOSTS="${hosts[*]}" CHAOS_NETNS_ON="$netns" \
    CHAOS_CODES="$(for h in "${hosts[@]}"; do printf '%s ' "${CODE[$h]}"; done)" \
    CHAOS_PIDS="$(for h in "${hosts[@]}"; do printf '%s:%s ' "$h" "${STARTED_PID[$h]}"; done)" \
    CHAOS_WALLS="${walls[*]}" CHAOS_ALLOWED="$allowed_s" CHAOS_LEFTOVER="${#leftover[@]}" \
    python3 - "$outdir" "$cfg" <<'EOF'
import glob, json, os, re, sys

outdir, cfg_path = sys.argv[1], sys.argv[2]
env = os.environ
hosts = env["CHAOS_HOSTS"].split()
codes = dict(zip(hosts, map(int, env["CHAOS_CODES"].split())))
pids = dict(x.split(":") for x in env["CHAOS_PIDS"].split())
walls = dict(zip(hosts, map(int, env["CHAOS_WALLS"].split())))
allowed, leftover = int(env["CHAOS_ALLOWED"]), int(env["CHAOS_LEFTOVER"])
cfg = json.load(open(cfg_path))
servers = [f"{cfg['server_ip_list']}:{p}" for p in cfg["server_port_list"].split(";")]
problems = []
problem = problems.append
n = "{:,}".format
H = str.upper

def plural(count, word, words=None):
    return f"{count} {word if count == 1 else words or word + 's'}"

faults = [l.rstrip("\n").split("\t") for l in open(os.path.join(outdir, "faults.tsv")) if l.strip()]
kills = [f for f in faults if f[1] in ("server", "client")]
cuts = [float(f[4]) for f in faults if f[1] == "cut"]
server_kills = sum(1 for f in kills if f[1] == "server")
client_kills = sum(1 for f in kills if f[1] == "client")
head = (f"chaos: seed {env['CHAOS_SEED']}, {env['CHAOS_DURATION']}, "
        f"{plural(len(hosts), 'host')}{'' if env['CHAOS_NETNS_ON'] == '1' else ' (no namespaces)'}, "
        f"{plural(server_kills, 'server kill')}, {plural(client_kills, 'client kill')}, "
        f"{plural(len(cuts), 'cut')}"
        + (f" ({', '.join(f'{c:g}' for c in cuts)} s)" if cuts else ""))

# Each startup ran, reported and ended in time.
reports = {}
for h in hosts:
    if codes[h] not in (0, 1):
        problem(f"host {H(h)}: startup exited with status {codes[h]}")
    if walls[h] > allowed:
        problem(f"host {H(h)}: startup took {walls[h]} s, over its deadlines ({allowed} s)")
    try:
        reports[h] = json.load(open(os.path.join(outdir, f"{h}.json")))
    except (OSError, ValueError) as e:
        problem(f"host {H(h)}: no report: {e}")
if leftover:
    problem(f"{plural(leftover, 'process', 'processes')} left over")
if len(reports) < len(hosts):
    print(f"{head}; no accounting (a report is missing): FAIL", flush=True)
    for p in problems:
        print(f"  - {p}")
    sys.exit(1)

# The report's key figures, host by host.
print("\nchaos: the reports")
for h, r in reports.items():
    v = r.get("verify", {})
    lat = r.get("latency_us", {})
    print(f"  host {H(h)} ({r.get('host_role', '?')}):")
    print(f"    verdict {r.get('verdict', '?').upper()}: " + "; ".join(r.get("verdict_reasons", [])))
    print(f"    sent {n(r['sent'])}  acked {n(r['acked'])}  unacked {n(r['unacked'])}  "
          f"{n(round(r.get('achieved_ops_per_s', 0)))} updates/s of {n(round(r.get('target_ops_per_s', 0)))}  "
          f"latency p50 {n(lat.get('p50', 0))} us p99 {n(lat.get('p99', 0))} us  "
          f"errors {n(r.get('errors', 0))}  reconnects {n(r.get('reconnects', 0))}")
    print(f"    children died {len(r.get('children_died', []))}, server restarts "
          f"{len(r.get('server_restarts', []))}; verify: {n(v.get('keys_checked', 0))} keys checked, "
          f"{v.get('mismatched_keys', '?')} mismatched, {v.get('in_flight_keys', '?')} in flight, "
          f"{v.get('lost_keys', '?')} lost ({n(v.get('lost_updates', 0))} updates), "
          f"{v.get('unclaimed_keys', '?')} unclaimed ({n(v.get('unclaimed_updates', 0))} updates), "
          f"{v.get('unverifiable_keys', '?')} unverifiable; wall {r.get('wall_s', 0):.0f} s")

# Every kill shows in the reports; no other child died.
died = {(h, d["pid"]): d for h, r in reports.items() for d in r.get("children_died", [])}
restarts = [x for r in reports.values() for x in r.get("server_restarts", [])]
restarted = {x["name"].split()[-1] for x in restarts}
for at, kind, h, pid, what in kills:
    d = died.pop((h, int(pid)), None)
    if d is None:
        problem(f"the {kind} killed at {at} s (pid {pid}) is not in host {H(h)}'s children_died")
    elif kind == "server" and not any(x["old_pid"] == int(pid) for x in restarts):
        problem(f"server {cfg['server_ip_list']}:{what} killed at {at} s (pid {pid}) was not restarted")
for (h, pid), d in died.items():
    problem(f"host {H(h)}: {d['name']} (pid {pid}) died and this script did not kill it: {d['status']}")

# The servers' final counts (the server host drained every link first).
final = {}
for h, r in reports.items():
    for d in r.get("server_dumps", []):
        if d["server"] in final:
            problem(f"server {d['server']} has final counts in two reports")
        final[d["server"]] = {k: c for k, c in d["keys"]}
        if d.get("links_open", 0):
            problem(f"server {d['server']} was read with {d['links_open']} links still open")
for s in servers:
    if s not in final:
        problem(f"server {s} has no final counts in any report")

# Each host's own figures add up: sent = acked + unacked, the keys sum to
# the totals, and unacked_by_server holds every unacked update per server.
claims = {}
for h, r in reports.items():
    keys = r.get("client_keys", [])
    acked = sum(k["acked"] for k in keys)
    unacked = sum(k["unacked"] for k in keys)
    if (acked, unacked) != (r["acked"], r["unacked"]):
        problem(f"host {H(h)}: client_keys sum to {n(acked)} acked, {n(unacked)} unacked; "
                f"the report says {n(r['acked'])}, {n(r['unacked'])}")
    if r["sent"] != r["acked"] + r["unacked"]:
        problem(f"host {H(h)}: sent {n(r['sent'])} != acked {n(r['acked'])} + unacked {n(r['unacked'])}")
    by_server = {s: 0 for s in servers}
    for k in keys:
        by_server[k["server"]] = by_server.get(k["server"], 0) + k["unacked"]
        c = claims.setdefault((k["server"], k["key"]), [0, 0, []])
        c[0] += k["acked"]
        c[1] += k["unacked"]
        c[2].append(h)
    if r.get("unacked_by_server") != by_server:
        problem(f"host {H(h)}: unacked_by_server {r.get('unacked_by_server')} != its keys' {by_server}")

# The killed clients' keys, from their logs: every connection's key is
# logged as it is made, before its first update.
killed_keys = {}
for at, kind, h, pid, cid in (f for f in kills if f[1] == "client"):
    logs = glob.glob(os.path.join(outdir, "logs", f"*-startup-{pids[h]}", f"client-{cid}.log"))
    found = 0
    for path in logs:
        for line in open(path, errors="replace"):
            m = re.search(r"link to (\S+) (?:re)?connected(?: after \d+ failed attempts)?, key (\S+)", line)
            if m:
                killed_keys[(m.group(1), m.group(2))] = f"host {H(h)} client {cid}"
                found += 1
    if not found:
        problem(f"no key in the log of host {H(h)}'s client {cid} (killed at {at} s): {logs or 'no log'}")

# Key by key: exact, in flight, lost with a restarted server; anything else
# is an update short or doubled.
on_servers = lost = lost_keys = in_flight = in_flight_keys = 0
short, doubled = [], []
for (server, key), (acked, unacked, who) in sorted(claims.items()):
    counts = final.get(server)
    if counts is None:
        continue  # named above: no final counts
    held = counts.get(key)
    if held is None and acked > 0 and server in restarted:
        lost += acked
        lost_keys += 1
        continue
    held = held or 0
    shared = f" (also a killed {killed_keys[(server, key)]}'s key)" if (server, key) in killed_keys else ""
    if held == acked:
        on_servers += acked
    elif acked < held <= acked + unacked:
        on_servers += acked
        in_flight += held - acked
        in_flight_keys += 1
    elif held > acked:
        doubled.append(f"{server} key {key}: server {n(held)}, acked {n(acked)} + unacked {unacked} "
                       f"by host {'+'.join(map(H, who))}{shared}")
    else:
        short.append(f"{server} key {key}: server {n(held)}, acked {n(acked)} "
                     f"by host {'+'.join(map(H, who))}{shared}")
for what, keys in (("doubled (server above acked + unacked)", doubled), ("short (an acked update missing)", short)):
    if keys:
        problem(f"{plural(len(keys), 'key')} {what}: " + "; ".join(keys[:5]))

# The keys no report claims are the killed clients', and nobody else's.
unclaimed = {(s, k): c for s, counts in final.items() for k, c in counts.items() if (s, k) not in claims}
killed_updates = sum(unclaimed.values())
strangers = [f"{s} key {k} ({n(c)})" for (s, k), c in unclaimed.items() if (s, k) not in killed_keys]
if strangers:
    problem(f"{plural(len(strangers), 'key')} on the servers that no report claims and no killed "
            f"client logged: " + "; ".join(strangers[:5]))
gone_keys = sum(1 for k in killed_keys if k not in unclaimed and k not in claims)

# startup's own verify says the same.
total_lost = sum(r.get("verify", {}).get("lost_updates", 0) for r in reports.values())
for h, r in reports.items():
    v = r.get("verify", {})
    if v.get("mismatched_keys", 0) or v.get("unverifiable_keys", 0):
        problem(f"host {H(h)}'s verify: {v.get('mismatched_keys')} mismatched, "
                f"{v.get('unverifiable_keys')} unverifiable keys: {v.get('mismatches', [])[:3]}")
if total_lost != lost:
    problem(f"the reports' verify.lost_updates sum to {n(total_lost)}, the keys to {n(lost)}")
if len(reports) == 1:
    v = next(iter(reports.values())).get("verify", {})
    if (v.get("unclaimed_keys"), v.get("unclaimed_updates")) != (len(unclaimed), killed_updates):
        problem(f"verify.unclaimed {v.get('unclaimed_keys')} keys / {v.get('unclaimed_updates')} updates, "
                f"the dumps {len(unclaimed)} / {killed_updates}")

acked = sum(r["acked"] for r in reports.values())
unacked = sum(r["unacked"] for r in reports.values())
if acked != on_servers + lost and not (doubled or short):
    problem(f"acked {n(acked)} != on servers {n(on_servers)} + lost {n(lost)}")
unacked_servers = {s for r in reports.values() for s, u in r.get("unacked_by_server", {}).items() if u}
verdict = "OK" if not problems else "FAIL"
print("\nchaos: accounting")
print(f"  acked by the surviving clients {n(acked)}: {n(on_servers)} on the servers key by key, "
      f"{n(lost)} lost with restarted servers ({plural(lost_keys, 'key')})")
print(f"  unacked {n(unacked)} on {plural(len(unacked_servers), 'server')}: {n(in_flight)} of them counted "
      f"by the server (in flight, {plural(in_flight_keys, 'key')}), {n(unacked - in_flight)} never arrived")
print(f"  killed clients: {n(killed_updates)} updates on {plural(len(unclaimed), 'unclaimed key')}, every one "
      f"logged by a killed client; {len(killed_keys)} keys logged, {gone_keys} of them on a server's "
      f"process that was killed later or never updated")
print(f"  startup walls {', '.join(f'{H(h)} {walls[h]} s' for h in hosts)} of {allowed} s allowed; "
      f"{plural(leftover, 'process', 'processes')} left over")
for p in problems:
    print(f"  FAIL: {p}")
print(f"\n{head}; acked {n(acked)} = on servers {n(on_servers)} + lost with restarted servers {n(lost)}; "
      f"unacked {n(unacked)} accounted on {plural(len(unacked_servers), 'server')}; killed clients' "
      f"updates {n(killed_updates)} on {plural(len(unclaimed), 'unclaimed key')}; "
      f"doubled {len(doubled)}, short {len(short)}; leftover processes {leftover}; "
      f"startup within deadlines ({max(walls.values())} s of {allowed} s): "
      f"{'yes' if all(walls[h] <= allowed for h in hosts) else 'NO'}: {verdict}")
sys.exit(0 if not problems else 1)
EOF
result=$?
set -e
[[ $result -eq 0 ]] || KEEP=1
exit "$result"
