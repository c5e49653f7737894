#!/usr/bin/env bash
# Operations security on a real non-loopback address: a server in one
# network namespace (198.18.10.1, the benchmarking range), a peer in another
# (198.18.10.2), joined by a veth pair. Nothing leaves the two namespaces.
# See --help.
set -euo pipefail

usage() {
    cat <<'EOF'
netns-security.sh: check the server's operations security on a non-loopback
address, between two network namespaces (run as root)

USAGE:
    sudo scripts/netns-security.sh

It builds the programs (cargo build --release), then checks, with a server
on 198.18.10.1 and a peer on 198.18.10.2:
  1. with no ops_token the server refuses to listen there, and says why;
  2. with a token: plain updates need none; dump and stop without it are
     refused; a wrong token is refused, counted (auth_failures) and logged
     with the peer's address; the right token opens dump and stop;
  3. the token appears in no log line and in no reply.
Everything it creates (namespaces mcsec-srv-PID and mcsec-peer-PID, the
veth pair, a temporary directory) is removed at the end, also on Ctrl-C.

EXIT STATUS:
    0 every check passed; 1 a check failed; 2 cannot run here (not root,
    no network namespaces, build failed). With NETNS_SKIP_OK=1, "cannot run
    here" exits 0 after saying so (for CI machines without namespaces).
EOF
}

say() { printf 'netns-security: %s\n' "$*" >&2; }
cannot() {
    say "cannot run here: $*"
    [[ "${NETNS_SKIP_OK:-0}" == 1 ]] && { say "SKIPPED"; exit 0; }
    exit 2
}
fail() { say "FAILED: $*"; failed=1; }
pass() { say "ok: $*"; }

case "${1:-}" in
    -h|--help) usage; exit 0 ;;
    "") ;;
    *) say "unknown argument $1"; usage >&2; exit 2 ;;
esac

[[ $(id -u) == 0 ]] || cannot "must run as root (it creates network namespaces)"
command -v ip >/dev/null || cannot "the ip command (iproute2) is missing"
command -v python3 >/dev/null || cannot "python3 is missing"

repo="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)"
srv="mcsec-srv-$$"
peer="mcsec-peer-$$"
work="$(mktemp -d)"
server_pid=""

cleanup() {
    if [[ -n "$server_pid" ]] && kill -0 "$server_pid" 2>/dev/null; then
        kill "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    ip netns del "$srv" 2>/dev/null || true
    ip netns del "$peer" 2>/dev/null || true
    rm -rf -- "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ip netns add "$srv" 2>/dev/null || cannot "ip netns add failed (no permission for network namespaces?)"
ip netns add "$peer"
ip link add "mcs$$" type veth peer name "mcp$$"
ip link set "mcs$$" netns "$srv"
ip link set "mcp$$" netns "$peer"
ip -n "$srv" addr add 198.18.10.1/24 dev "mcs$$"
ip -n "$peer" addr add 198.18.10.2/24 dev "mcp$$"
for ns in "$srv" "$peer"; do ip -n "$ns" link set lo up; done
ip -n "$srv" link set "mcs$$" up
ip -n "$peer" link set "mcp$$" up

say "building (cargo build --release)"
(cd "$repo" && cargo build --release --quiet) || cannot "cargo build --release failed"
server="$repo/target/release/server"

token="tok-$$-$RANDOM$RANDOM"
wrong="bad-$$-$RANDOM"
failed=0

# 1. No token on a non-loopback address: refused, with the reason.
cat >"$work/open.json" <<EOF
{"server_ip_list": "198.18.10.1", "server_port_list": "28801", "client_num_per_host": 0}
EOF
set +e
out="$(ip netns exec "$srv" "$server" --config "$work/open.json" --ip 198.18.10.1 --port 28801 2>&1 </dev/null)"
code=$?
set -e
if [[ $code == 2 && "$out" == *"ops_token"* && "$out" == *"198.18.10.1"* ]]; then
    pass "no token: the server refused to listen on 198.18.10.1 (exit 2): $out"
else
    fail "no token: expected exit 2 naming ops_token, got exit $code: $out"
fi

# 2. With a token, logging on so the log can be searched afterwards.
cat >"$work/guarded.json" <<EOF
{"server_ip_list": "198.18.10.1", "server_port_list": "28801", "client_num_per_host": 0,
 "ops_token": "$token", "log_switch": true, "log_level": "info", "log_dir": "$work/logs"}
EOF
coproc SERVER { ip netns exec "$srv" "$server" --config "$work/guarded.json" --ip 198.18.10.1 --port 28801 2>&1; }
server_pid=$SERVER_PID
# Readiness: the server's own "listening on" line.
read -r -t 15 ready <&"${SERVER[0]}" || { fail "the server did not start"; exit 1; }
[[ "$ready" == *"listening on 198.18.10.1:28801"* ]] || { fail "unexpected first line: $ready"; exit 1; }
pass "with a token: $ready"

# The peer's side of the conversation, line by line, from the other namespace.
ip netns exec "$peer" python3 - "$token" "$wrong" >"$work/peer.out" <<'EOF'
import socket, sys
token, wrong = sys.argv[1], sys.argv[2]
def conversation(lines):
    s = socket.create_connection(("198.18.10.1", 28801), timeout=5)
    f = s.makefile("rwb")
    replies = []
    for line in lines:
        f.write(line.encode() + b"\n"); f.flush()
        replies.append(f.readline().decode().rstrip("\n"))
    s.close()
    return replies
r = conversation(["update;198.18.10.2:5000;1", "update;198.18.10.2:5000;2",
                  "dump", "stop", "auth;" + wrong, "dump", "stats"])
r += conversation(["auth;" + token, "dump"])
for line in r:
    print(line)
EOF
mapfile -t replies <"$work/peer.out"
expect() {  # index, pattern, what
    if [[ "${replies[$1]:-}" == $2 ]]; then pass "$3: ${replies[$1]}"; else fail "$3: got '${replies[$1]:-}'"; fi
}
expect 0 'ack;1' "an update needs no token"
expect 1 'ack;2' "a second update"
expect 2 'err;unauthorized;*' "dump without the token is refused"
expect 3 'err;unauthorized;*' "stop without the token is refused"
expect 4 'err;unauthorized;wrong token' "a wrong token is refused"
expect 5 'err;unauthorized;*' "dump after a wrong token is still refused"
expect 6 'ok;*"auth_failures":4*' "stats counts the 4 refusals (auth_failures 4)"
expect 7 'ok;{"auth":true}' "the right token is accepted"
expect 8 'ok;*"198.18.10.2:5000",2*' "dump with the token shows the peer's key"
for line in "${replies[@]}"; do
    [[ "$line" == *"$token"* ]] && fail "a reply contains the token: $line"
done

# The right token opens stop; the server exits cleanly.
ip netns exec "$peer" python3 - "$token" >"$work/stop.out" <<'EOF'
import socket, sys
s = socket.create_connection(("198.18.10.1", 28801), timeout=5)
f = s.makefile("rwb")
for line in ["auth;" + sys.argv[1], "stop"]:
    f.write(line.encode() + b"\n"); f.flush()
    print(f.readline().decode().rstrip("\n"))
EOF
if [[ "$(tail -n 1 "$work/stop.out")" == "bye" ]] && wait "$server_pid"; then
    pass "stop with the token: bye, and the server exited with status 0"
else
    fail "stop with the token: $(cat "$work/stop.out")"
fi
server_pid=""

# 3. The log names the peer of each refusal and never holds a token.
logs=("$work"/logs/*-server-*.log)  # a server run alone: <UTC start>-server-<pid>.log
if [[ -f "${logs[0]}" ]]; then
    if grep -q "wrong operations token from 198.18.10.2:" "${logs[@]}" \
        && grep -q "refused a privileged command from 198.18.10.2:" "${logs[@]}"; then
        pass "the log names the peer of the wrong token and of the refused commands"
    else
        fail "the log does not name the peer: $(cat "${logs[@]}")"
    fi
    if grep -q -e "$token" -e "$wrong" "${logs[@]}"; then
        fail "a token appears in the log"
    else
        pass "neither the token nor the wrong one appears in the log"
    fi
else
    fail "no server log was written in $work/logs"
fi

if [[ $failed == 0 ]]; then
    say "PASSED: every operations-security check"
    exit 0
fi
say "some checks FAILED"
exit 1
