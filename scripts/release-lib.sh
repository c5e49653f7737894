# shellcheck shell=bash
# shellcheck disable=SC2034  # STEP is read by the sourcing script's exit trap
# Shared by scripts/release.sh and scripts/image-test.sh (sourced, not run).

# mc_version PROJECT: the version of Cargo.toml's [package] section (not a
# dependency's).
mc_version() {
    awk '/^\[/ { in_pkg = ($0 == "[package]") }
         in_pkg && /^version *=/ { gsub(/.*= *"|".*/, ""); print; exit }' "$1/Cargo.toml"
}

# mc_free_ports FIRST LAST: two ports in FIRST..LAST that nothing on
# 127.0.0.1 holds now, as "P1;P2" (server_port_list's form); empty if none.
# The runs stay off the default ports 18677-18679, which other runs use.
mc_free_ports() {
    python3 - "$1" "$2" <<'PY'
import socket, sys
free = []
for port in range(int(sys.argv[1]), int(sys.argv[2]) + 1):
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", port))
        free.append(str(port))
    except OSError:
        pass
    finally:
        s.close()
    if len(free) == 2:
        break
print(";".join(free) if len(free) == 2 else "")
PY
}

# mc_built DIR SUFFIX NAME...: fails unless DIR/NAME+SUFFIX exists for every
# NAME, else prints "NAME+SUFFIX SIZE bytes, ..." on one line.
mc_built() {
    local dir=$1 suffix=$2 b line=""
    shift 2
    for b in "$@"; do
        [ -f "$dir/$b$suffix" ] || { echo "    no $dir/$b$suffix after the build" >&2; return 1; }
        line+="${line:+, }$b$suffix $(stat -c %s "$dir/$b$suffix") bytes"
    done
    echo "    $line"
}

# step NAME / step_done: a step's heading, then its time; STEP names the
# step under way for a script's exit trap.
STEP=start
STEP_START=$SECONDS
step() { STEP=$1; STEP_START=$SECONDS; echo "==> $1"; }
step_done() { echo "    ($((SECONDS - STEP_START)) s)"; }

# mc_stop PID: ends a child this script started and reaps it (no-op when
# PID is empty or gone).
mc_stop() {
    if [ -n "$1" ] && kill -0 "$1" 2>/dev/null; then
        kill "$1" 2>/dev/null || true
        wait "$1" 2>/dev/null || true
    fi
}
