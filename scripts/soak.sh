#!/usr/bin/env bash
# The original's soak test: 100 clients x 10 servers on this host, 10 ms
# interval, logging off, for 3 hours by default. See --help.
set -euo pipefail

usage() {
    cat <<'EOF'
soak.sh: run mass_connect's soak test (100 clients x 10 servers, 10 ms
interval, logging off) on this host, then plot and summarise it

USAGE:
    scripts/soak.sh [DURATION] [OUTPUT_DIR]

ARGUMENTS:
    DURATION    how long to run: 30s, 10m, 3h [default: 3h]
    OUTPUT_DIR  where everything goes [default: ./soak-YYYYmmdd-HHMMSS]

ENVIRONMENT:
    SOAK_CONFIG        use this config file instead of the built-in one
                       (copied into OUTPUT_DIR/config.json)
    SOAK_SAMPLE_EVERY  CSV row cadence [default: 60s for runs of 30m or
                       more, 10s for shorter ones]
    SOAK_MAX_RSS_GROWTH  the leak check: fail (exit 1) if any process's
                       resident memory grew more than this many percent
                       from the baseline (2 minutes in, or a fifth of a
                       shorter run) to its last sample, e.g. 10
    SOAK_RSS_BASELINE  when the leak check's baseline is taken, e.g. 30s
                       [default: startup's: 2m, or a fifth of a shorter run]
    SOAK_PLOT          0 to skip the plot (no matplotlib needed) [default: 1]
    SOAK_ACCEPT_SATURATION  1 to exit 0 when startup's verdict FAILs only
                       because the load generator was saturated (this
                       host cannot keep the schedule; at the original's
                       scale a 2-CPU machine cannot): for a leak or
                       stability check, where the rest is what counts.
                       The summary still says so. [default: 0]
    SOAK_CHECK         0 to skip the long-run checks of runs of 20 minutes or
                       more (scripts/soak_check.py on the samples: each
                       kind's memory within 2% from minute 10 to the end,
                       threads and descriptors at the end as at minute 10,
                       no errors; a failed check makes the exit status 1)
                       [default: 1]
    SOAK_DASHBOARD     an address to serve startup's live dashboard on while
                       the soak runs, e.g. 127.0.0.1:28080 [default: none]

It builds the programs (cargo build --release, at the repo root), raises the
open-files limit to the hard limit, runs

    target/release/startup --config DIR/config.json --duration DURATION \
        --samples DIR/samples.csv --sample-every S --report DIR/report.json \
        --html-report DIR/report.html

with its output in DIR/startup.log, plots DIR/samples.csv into DIR/soak.png
(scripts/plot_samples.py; installs matplotlib with pip if missing) and
prints a summary of DIR/report.json. DIR/report.html is the run in one
file that any browser opens offline: its charts, the report's tables and
the verdict. Ctrl-C stops the run early; startup
still verifies, reports, and the plot is still drawn.

EXIT STATUS:
    startup's: 0 on PASS, 1 on FAIL (docs/REPORT.md: "The verdict"; also when the
    leak check or a long-run check fails), 2 setup failure (also: bad arguments, build
    failure, OUTPUT_DIR already holds a run), 3 INCOMPLETE (Ctrl-C stopped the run
    before its DURATION).
EOF
}

say() { printf 'soak: %s\n' "$*" >&2; }
die() { say "$*"; exit 2; }

case "${1:-}" in
    -h|--help) usage; exit 0 ;;
    -*) say "unknown option $1"; usage >&2; exit 2 ;;
esac
[[ $# -le 2 ]] || { say "too many arguments"; usage >&2; exit 2; }

duration="${1:-3h}"
outdir="${2:-soak-$(date +%Y%m%d-%H%M%S)}"

# Duration -> seconds, with startup's grammar (a number, then ms, s, m or h).
to_seconds() {
    local text="$1" number unit
    [[ "$text" =~ ^([0-9]+(\.[0-9]+)?)(ms|s|m|h)?$ ]] || return 1
    number="${BASH_REMATCH[1]}"
    unit="${BASH_REMATCH[3]:-s}"
    awk -v n="$number" -v u="$unit" 'BEGIN {
        f = (u == "ms") ? 0.001 : (u == "m") ? 60 : (u == "h") ? 3600 : 1
        s = n * f; if (s <= 0) exit 1; printf "%.3f\n", s }'
}
duration_s="$(to_seconds "$duration")" \
    || die "duration \"$duration\" is not a duration; use e.g. 30s, 10m or 3h"

if [[ -n "${SOAK_SAMPLE_EVERY:-}" ]]; then
    sample_every="$SOAK_SAMPLE_EVERY"
    to_seconds "$sample_every" >/dev/null \
        || die "SOAK_SAMPLE_EVERY=\"$sample_every\" is not a duration; use e.g. 10s or 60s"
elif awk -v s="$duration_s" 'BEGIN { exit !(s >= 1800) }'; then
    sample_every=60s
else
    sample_every=10s
fi

script_dir="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd -- "$script_dir/.." && pwd)"
[[ -f "$repo/Cargo.toml" ]] || die "no Cargo.toml at $repo (the script must stay in the repo's scripts/)"

if [[ -n "${SOAK_CONFIG:-}" && ! -f "$SOAK_CONFIG" ]]; then
    die "SOAK_CONFIG=$SOAK_CONFIG: no such file"
fi

# startup appends to an existing CSV; a second run into the same directory
# would mix two runs in one plot.
if [[ -e "$outdir/samples.csv" || -e "$outdir/report.json" ]]; then
    die "$outdir already holds a run (samples.csv or report.json); pick another directory"
fi
command -v python3 >/dev/null || die "python3 not found (needed for the plot and the summary)"
command -v cargo >/dev/null || die "cargo not found"

say "building (cargo build --release in $repo)"
(cd "$repo" && cargo build --release) || die "cargo build --release failed"
bindir="$repo/target/release"
for program in startup server client omclient; do
    [[ -x "$bindir/$program" ]] || die "$bindir/$program missing after the build"
done

mkdir -p -- "$outdir"
outdir="$(cd -- "$outdir" && pwd)"
config="$outdir/config.json"
if [[ -n "${SOAK_CONFIG:-}" ]]; then
    cp -- "$SOAK_CONFIG" "$config"
    say "config: $SOAK_CONFIG (copied to $config)"
else
    # Ports below 32768: outside the ephemeral ranges of Linux (32768-60999)
    # and Windows (49152-65535), so no outgoing connection can hold one.
    cat >"$config" <<'EOF'
{
    "server_ip_list": "127.0.0.1",
    "server_port_list": "28701;28702;28703;28704;28705;28706;28707;28708;28709;28710",
    "server_app_name": "server",
    "client_num_per_host": 100,
    "client_app_name": "client",
    "log_switch": false,
    "update_intervals": 10
}
EOF
fi

# Open files: soft limit up to the hard one, where the hard one allows.
soft_before="$(ulimit -Sn)"
hard="$(ulimit -Hn)"
if [[ "$soft_before" != "$hard" ]]; then
    if ! ulimit -Sn "$hard" 2>/dev/null && [[ "$hard" == unlimited && -r /proc/sys/fs/nr_open ]]; then
        ulimit -Sn "$(cat /proc/sys/fs/nr_open)" 2>/dev/null || true
    fi
fi
nofile="$(ulimit -Sn)"
if [[ "$nofile" == "$soft_before" ]]; then
    say "open files limit: $nofile (hard $hard; unchanged)"
else
    say "open files limit: raised $soft_before -> $nofile (hard $hard)"
fi

commit="$(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo unknown)"
if [[ -n "$(git -C "$repo" status --porcelain --untracked-files=no 2>/dev/null)" ]]; then
    commit="$commit+dirty"
fi
cpus="$(nproc 2>/dev/null || echo '?')"

# The kernel's own count of what went wrong on the network, machine-wide
# (Linux): packets dropped because a CPU's input backlog was full (loopback
# traffic passes through it too), TCP segments retransmitted, and TCP
# retransmission timeouts. Read before and after the run: a link error with
# drops beside it points at the kernel, not at the programs.
net_counters() {
    [[ -r /proc/net/softnet_stat && -r /proc/net/snmp && -r /proc/net/netstat ]] || return 0
    python3 - <<'PY'
def table(path, prefix):
    rows = [l.split() for l in open(path) if l.startswith(prefix)]
    return dict(zip(rows[0][1:], map(int, rows[1][1:]))) if len(rows) >= 2 else {}
drops = sum(int(l.split()[1], 16) for l in open("/proc/net/softnet_stat"))
tcp, ext = table("/proc/net/snmp", "Tcp:"), table("/proc/net/netstat", "TcpExt:")
print(drops, tcp.get("RetransSegs", 0), ext.get("TCPTimeouts", 0))
PY
}
net_before="$(net_counters || true)"
{
    echo "started:      $(date -Is)"
    echo "host:         $(uname -n) ($(uname -sr), $cpus CPUs)"
    echo "commit:       $commit"
    echo "duration:     $duration"
    echo "sample_every: $sample_every"
    echo "open files:   $nofile"
    echo "config:       ${SOAK_CONFIG:-built-in}"
} >"$outdir/run.txt"

cmd=("$bindir/startup" --config "$config" --duration "$duration"
     --samples "$outdir/samples.csv" --sample-every "$sample_every"
     --report "$outdir/report.json" --html-report "$outdir/report.html")
if [[ -n "${SOAK_DASHBOARD:-}" ]]; then
    cmd+=(--dashboard "$SOAK_DASHBOARD")
fi
if [[ -n "${SOAK_RSS_BASELINE:-}" ]]; then
    to_seconds "$SOAK_RSS_BASELINE" >/dev/null \
        || die "SOAK_RSS_BASELINE=\"$SOAK_RSS_BASELINE\" is not a duration; use e.g. 30s or 2m"
    cmd+=(--rss-baseline "$SOAK_RSS_BASELINE")
fi
say "running for $duration, a CSV row every $sample_every: ${cmd[*]}"

# Ctrl-C reaches startup (which stops, verifies and reports) and this
# script, which must go on to plot. tee ignores it so the log keeps the end.
interrupted=0
trap 'interrupted=1' INT
set +e
"${cmd[@]}" 2>&1 | (trap '' INT; exec tee "$outdir/startup.log")
status=${PIPESTATUS[0]}
set -e
trap - INT
echo "finished:     $(date -Is) (startup exit $status)" >>"$outdir/run.txt"
net_after="$(net_counters || true)"
net_line=""
if [[ -n "$net_before" && -n "$net_after" ]]; then
    read -r d0 r0 t0 <<<"$net_before"
    read -r d1 r1 t1 <<<"$net_after"
    net_line="backlog drops $((d1 - d0)), TCP retransmits $((r1 - r0)), TCP timeouts $((t1 - t0)) (machine-wide, during the run)"
    echo "kernel net:   $net_line" >>"$outdir/run.txt"
fi
[[ $interrupted == 1 ]] && say "interrupted; startup exited $status"

max_growth="${SOAK_MAX_RSS_GROWTH:-}"
if [[ -n "$max_growth" && ! "$max_growth" =~ ^[0-9]+(\.[0-9]+)?$ ]]; then
    die "SOAK_MAX_RSS_GROWTH=\"$max_growth\" is not a number of percent"
fi

plotted=0
if [[ "${SOAK_PLOT:-1}" == 0 ]]; then
    say "SOAK_PLOT=0: no plot"
elif [[ -s "$outdir/samples.csv" ]]; then
    say "plotting"
    if python3 "$script_dir/plot_samples.py" "$outdir/samples.csv" -o "$outdir/soak.png" \
        --title "mass_connect soak on $(uname -n) ($cpus CPUs), commit $commit"; then
        plotted=1
    else
        say "plotting failed; retry with: python3 $script_dir/plot_samples.py $outdir/samples.csv -o $outdir/soak.png"
    fi
else
    say "no samples.csv was written; nothing to plot"
fi

echo
echo "soak run: $outdir"
echo "  config:  $config"
echo "  log:     $outdir/startup.log"
echo "  samples: $outdir/samples.csv"
[[ -f "$outdir/report.json" ]] && echo "  report:  $outdir/report.json"
[[ -f "$outdir/report.html" ]] && echo "  html:    $outdir/report.html (opens offline in any browser)"
[[ $plotted == 1 ]] && echo "  plot:    $outdir/soak.png"
echo "  info:    $outdir/run.txt"
[[ -n "$net_line" ]] && echo "  kernel:  $net_line"

if [[ -f "$outdir/report.json" ]]; then
    echo
    set +e
    python3 - "$outdir/report.json" "$max_growth" "${SOAK_ACCEPT_SATURATION:-0}" <<'EOF'
import json, sys

r = json.load(open(sys.argv[1]))

def get(*path, default=None):
    v = r
    for p in path:
        if not isinstance(v, dict) or p not in v:
            return default
        v = v[p]
    return v

def num(v, fmt="{:,.0f}"):
    return fmt.format(v) if isinstance(v, (int, float)) else "?"

reasons = get("verdict_reasons", default=[])
# Reports before INCOMPLETE existed carry pass or fail, as the reasons say.
print(f"verdict: {get('verdict', default='pass' if not reasons else 'fail').upper()}")
if get("interrupted"):
    print(f"  interrupted: stopped at {num(get('duration_s'), '{:,.1f}')} s "
          f"of {num(get('planned_s'), '{:,.0f}')} s")
for reason in reasons:
    print(f"  - {reason}")
saturated_only = bool(reasons) and all(
    r.startswith("the load generator was saturated") for r in reasons)
target, got = get("target_ops_per_s"), get("achieved_ops_per_s")
ratio = f" ({got / target:.1%} of target)" if isinstance(got, (int, float)) and target else ""
print(f"summary ({num(get('duration_s'), '{:,.0f}')} s):")
print(f"  updates/s:  {num(got)} achieved vs {num(target)} target{ratio}")
ok = get("verify", "ok")
print(f"  verified:   {'yes' if ok else 'NO'}"
      + ("" if ok else f" (mismatched keys {get('verify', 'mismatched_keys', default='?')}, "
                       f"servers down {get('verify', 'servers_down', default='?')})"))
print(f"  latency:    p99 {num(get('latency_us', 'p99'))} us")
for kind in ("server", "client"):
    print(f"  {kind + 's:':11} cpu avg {num(get('processes', kind, 'cpu_percent_avg'), '{:.1f}')}% "
          f"of a core each, rss max {num(get('processes', kind, 'rss_mb_max'), '{:.1f}')} MB")
died = get("children_died", default=[])
if died:
    print(f"  died:       {len(died)} child process(es): "
          + ", ".join(str(d.get("name", "?")) for d in died[:5]))

# The leak check: each kind's largest per-process growth from the baseline.
growth = {k: get("processes", k, "rss_growth_percent_max") for k in ("server", "client")}
baseline = get("processes", "rss_baseline_s")
print(f"  memory:     growth since {num(baseline)} s, largest of any process: "
      + ", ".join(f"{k} " + (f"{g:+.1f}%" if isinstance(g, (int, float)) else "n/a")
                  for k, g in growth.items()))
if sys.argv[2]:
    limit = float(sys.argv[2])
    bad = [k for k, g in growth.items()
           if get("processes", k, "count") and not (isinstance(g, (int, float)) and g <= limit)]
    if bad:
        print(f"  LEAK CHECK FAILED: {', '.join(bad)} grew more than {limit:g}% (or had no baseline)")
        sys.exit(3)
    print(f"  leak check: passed (every process within {limit:g}%)")
if saturated_only and sys.argv[3] == "1":
    print("  SOAK_ACCEPT_SATURATION=1: the FAIL is only the saturated generator; counted as passed")
    sys.exit(4)
EOF
    summary=$?
    set -e
    case $summary in
        0) ;;
        3) [[ $status == 0 ]] && status=1 ;;
        4) [[ $status == 1 ]] && status=0 ;;
        *) say "could not summarise report.json" ;;
    esac
else
    echo
    say "no report.json: startup did not finish its report (exit $status); see $outdir/startup.log"
fi

# The long-run checks, from the samples (scripts/soak_check.py): each kind's
# memory within 2% from minute 10 to the end, threads and descriptors at the
# end as at minute 10, no errors. For runs that reach 20 minutes.
if [[ "${SOAK_CHECK:-1}" != 0 && -s "$outdir/samples.csv" ]] \
    && awk -F, 'NR > 1 && $1 >= 1200 { found = 1 } END { exit !found }' "$outdir/samples.csv"; then
    echo
    if ! python3 "$script_dir/soak_check.py" "$outdir/samples.csv"; then
        [[ $status == 0 ]] && status=1
    fi
fi

exit "$status"
