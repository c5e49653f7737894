# shellcheck shell=bash
# Hosts as Linux network namespaces on a bridge, and their teardown: shared
# by scripts/netns-hosts.sh and scripts/chaos.sh, which source this file.
#
# The caller owns two arrays, and this file touches nothing else:
#   CREATED  the namespaces this run made: the only ones deleted
#   STARTED  pids of the startups this run started: the only ones stopped
# Addresses come from 198.18.0.0/15, the range reserved for benchmarks
# (RFC 2544). The bridge lives in a namespace of its own, so nothing is
# added to the machine's own network.

# netns_hosts PREFIX HOST=ADDRESS...: namespace PREFIX-sw holds bridge br0;
# each host is namespace PREFIX-HOST whose eth0 has ADDRESS/24 and is one
# end of a veth pair, the other end being port-HOST on the bridge.
netns_hosts() {
  local prefix="$1" pair host address
  shift
  netns_new "$prefix-sw"
  ip -n "$prefix-sw" link add br0 type bridge
  ip -n "$prefix-sw" link set br0 up
  for pair in "$@"; do
    host="${pair%%=*}" address="${pair#*=}"
    netns_new "$prefix-$host"
    ip -n "$prefix-sw" link add "port-$host" type veth peer name eth0 netns "$prefix-$host"
    ip -n "$prefix-sw" link set "port-$host" master br0 up
    ip -n "$prefix-$host" addr add "$address/24" dev eth0
    ip -n "$prefix-$host" link set eth0 up
  done
}

# netns_new NAME: a namespace with its loopback up, recorded in CREATED.
netns_new() {
  ip netns add "$1"
  CREATED+=("$1")
  ip -n "$1" link set lo up
}

# shellcheck source=scripts/pids-lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/pids-lib.sh"

# netns_teardown: stops the startups in STARTED (each stops its own
# children when its pipes close): a first TERM asks for an orderly stop, a
# second one for an abort (as Ctrl-C twice would), then KILL, each given
# 2 s. Then kills whatever still runs in the namespaces of CREATED (this
# run started it) and deletes them.
netns_teardown() {
  local pid ns
  [ ${#STARTED[@]} -eq 0 ] || stop_pids "TERM TERM KILL" 20 "${STARTED[@]}"
  for ns in "${CREATED[@]}"; do
    for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null || true; done
  done
  for ns in "${CREATED[@]}"; do ip netns del "$ns" 2>/dev/null || true; done
}
