#!/usr/bin/env bash
# startup's dashboard and HTML report in a real browser (issue 17): starts a
# short run with --dashboard, loads the page in headless Chromium, waits for
# the charts to draw, checks that every figure shown is the one /api/run
# served (mid-run and at the end) and that the final one is startup's
# --report, takes screenshots; then the same for the --html-report file,
# opened from disk.
#
#   scripts/browser-test.sh [OUTDIR]     (default: a new temporary folder)
#
# Needs Debian's chromium (installed with apt-get when missing and run as
# root), Node.js and npm (playwright-core is installed into
# target/browser-test; it never downloads a browser). Screenshots:
# OUTDIR/dashboard-live.png, dashboard-final.png, html-report.png.
#
# Environment:
#   MC_BROWSER_DURATION=D   the run's --duration (default 8s)
#   MC_CHROMIUM=PATH        the browser (default /usr/bin/chromium)
set -euo pipefail

case "${1:-}" in
    -h|--help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d' | sed 's/^# \{0,1\}//'; exit 0 ;;
esac

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
say() { printf 'browser-test: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

export MC_CHROMIUM="${MC_CHROMIUM:-/usr/bin/chromium}"
if [[ ! -x "$MC_CHROMIUM" ]]; then
    [[ "$(id -u)" == 0 ]] || die "$MC_CHROMIUM missing; install Debian's chromium (apt-get install chromium)"
    say "installing Debian's chromium"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null
fi
command -v node >/dev/null && command -v npm >/dev/null || die "node and npm are needed"

# playwright-core drives the browser installed above; it has no browser of
# its own to download, and PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD makes sure.
export MC_BROWSER_NODE_DIR="$repo/target/browser-test"
if [[ ! -d "$MC_BROWSER_NODE_DIR/node_modules/playwright-core" ]]; then
    say "installing playwright-core into $MC_BROWSER_NODE_DIR"
    mkdir -p "$MC_BROWSER_NODE_DIR"
    (cd "$MC_BROWSER_NODE_DIR" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm install --no-save \
        --no-audit --no-fund --no-package-lock --loglevel=error playwright-core@1.65.1)
fi

say "building (cargo build)"
(cd "$repo" && cargo build --quiet)
startup="$repo/target/debug/startup"

out="${1:-$(mktemp -d)}"
mkdir -p "$out"
out="$(cd "$out" && pwd)"
ports="$(python3 -c 'import socket
ss=[socket.socket() for _ in range(2)]
[s.bind(("127.0.0.1",0)) for s in ss]
print(";".join(str(s.getsockname()[1]) for s in ss))')"
cat >"$out/config.json" <<EOF
{"server_ip_list": "127.0.0.1", "server_port_list": "$ports", "client_num_per_host": 3, "update_intervals": 10}
EOF

# startup in the background, its terminal output in a file; ended by PID
# (and only it) if the script stops early.
"$startup" --config "$out/config.json" --duration "${MC_BROWSER_DURATION:-8s}" \
    --dashboard 127.0.0.1:0 --report "$out/report.json" --html-report "$out/report.html" \
    >"$out/startup.out" 2>"$out/startup.err" &
pid=$!
trap 'kill "$pid" 2>/dev/null || true' EXIT

url=""
for _ in $(seq 1 300); do   # at most 30 s for the URL line
    url="$(grep -o 'dashboard at http://[^ ]*' "$out/startup.err" | head -1 | cut -d' ' -f3 || true)"
    [[ -n "$url" ]] && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
done
[[ -n "$url" ]] || { cat "$out/startup.err" >&2; die "startup printed no dashboard URL"; }
say "startup serves $url"

status=0
node "$repo/scripts/browser-test.cjs" live "$url" "$out" || status=1
set +e
wait "$pid"
code=$?
set -e
trap - EXIT
say "startup exited $code (0 PASS, 1 FAIL: a loaded test machine can saturate the clients)"
[[ $code == 0 || $code == 1 ]] || { cat "$out/startup.err" >&2; die "startup failed"; }
[[ -f "$out/report.json" && -f "$out/report.html" ]] || die "startup wrote no report.json or report.html"
node "$repo/scripts/browser-test.cjs" report "$out/report.html" "$out/report.json" "$out" || status=1

if [[ $status == 0 ]]; then
    say "passed; screenshots: $out/dashboard-live.png $out/dashboard-final.png $out/html-report.png"
else
    say "FAILED; startup's output: $out/startup.err"
fi
exit "$status"
