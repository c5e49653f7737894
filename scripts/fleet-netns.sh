#!/usr/bin/env bash
# The fleet test: the real Ansible playbook (deploy/ansible/site.yml and
# teardown.yml, which apply the role deploy/ansible/roles/mass_connect), run
# from this machine's own (root) network namespace over SSH against hosts
# made of Linux network namespaces, as scripts/netns-hosts.sh makes them.
# By default three:
#
#   host a 198.18.0.1   servers (3 ports) + clients     mass_connect_servers
#   host b 198.18.0.2   servers (3 ports) + clients     mass_connect_servers
#   host c 198.18.0.3   clients only                    mass_connect_clients
#   ctl    198.18.0.254 the controller's leg on the bridge (see below)
#
# --hosts N makes N (a, b, c, ... at 198.18.0.1 to .N), the last
# --clients-only K of them clients only (default 1), the others servers and
# clients. `--hosts 10 --clients-only 0` is the original's layout: ten
# hosts, each running its servers and its clients.
#
# Each host runs its own sshd, bound to its own address, with a host key
# and a config of its own; the script makes a throwaway client key and a
# known_hosts file for the host keys. Then, from the root namespace:
#   1. ansible-playbook --check on the fresh hosts: reports changes, makes none;
#   2. --tags deploy: copies the four programs, the config and the runner;
#   3. --tags deploy again: must change nothing (idempotent);
#   4. the whole playbook: startup on every host at once for 30 s, wait,
#      fetch every host's report, samples CSV, HTML report, output and log
#      folder into one run folder, `omclient verify --reports` on the
#      reports; the play fails unless the merged verdict passes, and this
#      script checks that every host's files came back;
#   5. teardown.yml: the hosts are as before step 2 (no folder of the
#      role's is left);
#   6. teardown.yml again: changes nothing.
#
# How the root namespace reaches the hosts without an address of its own:
# ssh's ProxyCommand runs `nc` inside the ctl namespace, whose veth is on
# the hosts' bridge, as a jump host would. Ansible, ssh and omclient run in
# the root namespace; the root namespace gets no address, route or link.
# All addresses are from 198.18.0.0/15 (RFC 2544, benchmarking), inside
# namespaces this script makes.
#
# systemd is not PID 1 in a container, so the hosts use the playbook's
# `mass_connect_runner=direct`: the unit's ExecStart command line under
# setsid + prlimit. The systemd runner's unit is checked by deploy/check.sh
# (systemd-analyze verify), and run for real with --systemd (below). The
# three hosts share one file system, so each gets its own install, config
# and state folders.
#
# Needs root, ip, python3 (venv), and openssh-server and netcat-openbsd
# (installed with apt-get when missing). Ansible (the version pinned in
# deploy/ansible/requirements.txt) is installed by pip in a virtual
# environment in the temporary folder. Everything made here, namespaces,
# sshd and startup processes, SSH keys, the virtual environment, Ansible's
# temporary files, is removed at the end, also on failure or Ctrl-C. The
# last line states the verdict.
#
# With --systemd, one more host joins the same fleet (d, 198.18.0.4, with
# the default three; the next letter and address with --hosts), running
# servers and clients (so server, client and startup all run in the unit's
# sandbox), a Debian system (debootstrap, from this machine's apt sources)
# booted by systemd-nspawn inside its own namespace, so that systemd is PID
# 1 there. The playbook runs on it with its default runner: it installs
# deploy/systemd/mass-connect@.service and the limits drop-in and starts
# the run as that unit (DynamicUser, its config as a credential, the report
# in its StateDirectory). While the run goes on, the script shows the
# unit's `systemctl status`, `systemd-analyze security` and its processes'
# user and limits, as seen inside the container.
#
# The root file system (debootstrap: 40 to 110 s here, 300 MB) is kept in
# --rootfs-cache DIR [default: /var/tmp/mass_connect-fleet-rootfs], one
# folder per release, mirror and package list, never booted: each run
# boots a copy of it in the temporary folder (1 or 2 s). A folder there
# without its `complete` mark is made again. The container runs in a
# cgroup of this run's own (on a host whose PID 1 is not systemd), removed
# at the end like the rest. With the cache the script takes 4 to 5
# minutes, and a CI machine would start without it, so CI does not run
# --systemd.
#
# Usage (as root): scripts/fleet-netns.sh [--hosts N] [--clients-only K]
#                    [--out DIR] [--duration SECONDS] [--systemd]
#                    [--rootfs-cache DIR]
#   --hosts N        namespace hosts, 2 to 20 [default: 3]
#   --clients-only K how many of them (the last) run clients only, 0 to N-1
#                    [default: 1]
#   --out DIR        keep the config, inventory, run folder and logs in DIR
#                    (never the keys) [default: nothing kept]
#   --duration S     the run's --duration on every host [default: 30]
#   --systemd        add a host run by systemd in a systemd-nspawn container
#   --rootfs-cache DIR  where --systemd keeps its Debian root file systems
#                    [default: /var/tmp/mass_connect-fleet-rootfs]
# Exit status: 0 when every stage passed and the merged verdict is OK, 1
# when not, 2 when the script cannot run here.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

OUT=""
DURATION=30
SYSTEMD=no
ROOTFS_CACHE=/var/tmp/mass_connect-fleet-rootfs
NHOSTS=3
CLIENTS_ONLY=1
while [ $# -gt 0 ]; do
  case "$1" in
    --hosts) NHOSTS="$2"; shift 2 ;;
    --clients-only) CLIENTS_ONLY="$2"; shift 2 ;;
    --out) OUT="$2"; shift 2 ;;
    --duration) DURATION="$2"; shift 2 ;;
    --systemd) SYSTEMD=yes; shift ;;
    --rootfs-cache) ROOTFS_CACHE="$2"; shift 2 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "fleet-netns.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
if ! [[ "$DURATION" =~ ^[0-9]+$ ]] || [ "$DURATION" -lt 5 ] || [ "$DURATION" -gt 3600 ]; then
  echo "fleet-netns.sh: --duration must be a whole number of seconds, 5 to 3600" >&2
  exit 2
fi
if ! [[ "$NHOSTS" =~ ^[0-9]+$ ]] || [ "$NHOSTS" -lt 2 ] || [ "$NHOSTS" -gt 20 ]; then
  echo "fleet-netns.sh: --hosts must be a whole number, 2 to 20" >&2
  exit 2
fi
if ! [[ "$CLIENTS_ONLY" =~ ^[0-9]+$ ]] || [ "$CLIENTS_ONLY" -ge "$NHOSTS" ]; then
  echo "fleet-netns.sh: --clients-only must be a whole number, 0 to $((NHOSTS - 1)) (one host at least runs servers)" >&2
  exit 2
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "fleet-netns.sh: must run as root: it creates network namespaces and runs sshd" >&2
  exit 2
fi
command -v ip >/dev/null || { echo "fleet-netns.sh: needs the ip command (iproute2)" >&2; exit 2; }

say() { printf '\n== %s\n' "$*"; }
T_START=$(date +%s)
# shellcheck disable=SC2317  # called from cleanup, a trap
since() { echo "$(( $(date +%s) - T_START )) s"; }

# ---------------------------------------------------------------- teardown
P="mcf$$"              # every namespace of this run starts with this prefix
CREATED=()             # namespaces this run created: the only ones it deletes
STARTED=()             # PIDs of the sshds this run started
TMP=""
MADE_RUN_SSHD=no       # /run/sshd (sshd's privilege separation folder)
NSPAWN_PID=""          # --systemd: the systemd-nspawn running host d
MADE_NSPAWN_RUN=no     # /run/systemd/nspawn, which systemd-nspawn makes
NSPAWN_CGROUPS=()      # --systemd: the cgroups this run made for the container
ROOTFS_NEW=""          # --systemd: a root file system being made for the cache
WATCH_PID=""           # --systemd: the look at the unit while it runs
# The hosts, a, b, c, ... at 198.18.0.1, .2, .3, ...: the first
# NHOSTS - CLIENTS_ONLY run servers and clients, the rest clients only; the
# --systemd host (SD) comes after them and runs servers and clients, so
# that every program startup starts runs inside the unit's sandbox.
NAMES=(a b c d e f g h i j k l m n o p q r s t u)
declare -A ADDR=([ctl]=198.18.0.254)
for i in $(seq 0 "$NHOSTS"); do ADDR[${NAMES[$i]}]=198.18.0.$((i + 1)); done
PLAIN=("${NAMES[@]:0:$NHOSTS}")                 # the namespace hosts, with their own sshd
SERVER_HOSTS=("${NAMES[@]:0:$((NHOSTS - CLIENTS_ONLY))}")
CLIENT_HOSTS=("${NAMES[@]:$((NHOSTS - CLIENTS_ONLY)):$CLIENTS_ONLY}")
SD=""
HOSTS=("${PLAIN[@]}")
if [ "$SYSTEMD" = yes ]; then SD=${NAMES[$NHOSTS]}; HOSTS+=("$SD"); SERVER_HOSTS+=("$SD"); fi
STAGE="setting up"
VERDICT_LINE=""
# Reached only through the traps below, which shellcheck cannot follow.
# shellcheck disable=SC2317
cleanup() {
  local status=$?
  trap - EXIT INT TERM
  set +e
  # Ansible's SSH connection masters (ControlPersist) live in the root
  # namespace: ask each to exit, then end any that did not, by its PID.
  if [ -n "$TMP" ] && [ -d "$TMP/cp" ]; then
    for sock in "$TMP"/cp/*; do
      [ -S "$sock" ] || continue
      pid=$(ssh -o ControlPath="$sock" -O check x 2>&1 | sed -n 's/.*(pid=\([0-9]*\)).*/\1/p')
      ssh -o ControlPath="$sock" -O exit x >/dev/null 2>&1
      if [ -n "$pid" ]; then
        for _ in $(seq 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null
      fi
    done
  fi
  if [ -n "$WATCH_PID" ]; then kill -TERM "$WATCH_PID" 2>/dev/null; wait "$WATCH_PID" 2>/dev/null; fi
  # Host d's container: TERM asks it to shut down (about 2 s), then KILL.
  if [ -n "$NSPAWN_PID" ] && kill -0 "$NSPAWN_PID" 2>/dev/null; then
    kill -TERM "$NSPAWN_PID" 2>/dev/null
    for _ in $(seq 150); do kill -0 "$NSPAWN_PID" 2>/dev/null || break; sleep 0.2; done
    kill -KILL "$NSPAWN_PID" 2>/dev/null
  fi
  # The sshds this run started: TERM, then KILL.
  local signal
  for signal in TERM KILL; do
    alive=()
    for pid in "${STARTED[@]}"; do kill -0 "$pid" 2>/dev/null && alive+=("$pid"); done
    [ ${#alive[@]} -eq 0 ] && break
    kill -"$signal" "${alive[@]}" 2>/dev/null
    for _ in $(seq 20); do kill -0 "${alive[@]}" 2>/dev/null || break; sleep 0.1; done
  done
  # Whatever still runs inside our namespaces was started by this run (the
  # startups the playbook started, the nc proxies): an orderly stop first.
  for signal in TERM KILL; do
    pids=()
    for ns in "${CREATED[@]}"; do
      for pid in $(ip netns pids "$ns" 2>/dev/null); do pids+=("$pid"); done
    done
    [ ${#pids[@]} -eq 0 ] && break
    kill -"$signal" "${pids[@]}" 2>/dev/null
    for _ in $(seq 30); do kill -0 "${pids[@]}" 2>/dev/null || break; sleep 0.1; done
  done
  for ns in "${CREATED[@]}"; do ip netns del "$ns" 2>/dev/null; done
  [ "$MADE_RUN_SSHD" = yes ] && rmdir /run/sshd 2>/dev/null
  [ "$MADE_NSPAWN_RUN" = yes ] && rm -rf /run/systemd/nspawn
  # The container's cgroups (systemd-nspawn's payload/ and supervisor/, and
  # what the container's systemd made under them), deepest first: a cgroup
  # goes once it holds no process and no cgroup.
  for cg in "${NSPAWN_CGROUPS[@]}"; do
    [ -d "$cg" ] && find "$cg" -depth -type d -exec rmdir {} + 2>/dev/null
    if [ -d "$cg" ]; then
      echo "fleet-netns.sh: cgroup $cg could not be removed" >&2
      [ "$status" -eq 0 ] && status=1
    fi
  done
  [ -n "$ROOTFS_NEW" ] && rm -rf "$ROOTFS_NEW"
  # --out keeps what there is to read, whatever stage it got to; never the keys.
  if [ -n "$OUT" ] && [ -n "$TMP" ]; then
    mkdir -p "$OUT"
    cp "$TMP"/config.json "$TMP"/inventory.yml "$TMP"/*.log "$OUT"/ 2>/dev/null
    cp -r "$TMP/reports" "$OUT"/ 2>/dev/null
    # Each host's startup.log is in the run folder (reports/<host>/).
    for h in "${PLAIN[@]}"; do
      cp "$TMP/hosts/$h/sshd.log" "$OUT/sshd-$h.log" 2>/dev/null
    done
  fi
  if [ -n "$TMP" ]; then rm -rf "$TMP"; fi
  left=$(ip netns list 2>/dev/null | grep -c "^$P-" || true)
  if [ "$left" -ne 0 ]; then
    echo "fleet-netns.sh: $left namespaces of this run could not be deleted" >&2
    [ "$status" -eq 0 ] && status=1
  fi
  if [ "$status" -eq 0 ]; then
    echo "fleet-netns.sh: PASS: ${VERDICT_LINE:-merged verdict OK} ($(since), namespaces, processes and keys removed)"
  else
    echo "fleet-netns.sh: FAIL while $STAGE (exit status $status; $(since); namespaces, processes and keys removed)"
  fi
  exit "$status"
}
trap cleanup EXIT
trap 'echo "fleet-netns.sh: interrupted; tearing down" >&2; exit 130' INT TERM

TMP=$(mktemp -d /tmp/mass_connect-fleet.XXXXXX)
mkdir -p "$TMP/cp" "$TMP/reports"
# Everything Ansible writes stays in $TMP (by default it would make
# ~/.ansible, even for `ansible-playbook --version`).
export ANSIBLE_CONFIG="$ROOT/deploy/ansible/ansible.cfg"
export ANSIBLE_HOME="$TMP/ansible-home"
export ANSIBLE_LOCAL_TEMP="$TMP/ansible-home/tmp"
# Tasks delegated to the controller use this one, not the hosts' own.
export ANSIBLE_REMOTE_TEMP="$TMP/ansible-home/remote-tmp"
export ANSIBLE_SSH_CONTROL_PATH_DIR="$TMP/cp"
export ANSIBLE_NOCOLOR=1
export PYTHONDONTWRITEBYTECODE=1

# ---------------------------------------------------------------- tools
STAGE="installing the tools"
say "tools: openssh-server, nc, Ansible (pinned) in a virtual environment"
T0=$(date +%s)
PKGS=(openssh-server netcat-openbsd)
[ "$SYSTEMD" = yes ] && PKGS+=(systemd-container debootstrap)
if [ ! -x /usr/sbin/sshd ] || ! command -v nc >/dev/null ||
  { [ "$SYSTEMD" = yes ] && ! { command -v systemd-nspawn && command -v debootstrap; } >/dev/null; }; then
  # A package's install must not start an sshd in this (root) namespace:
  # policy-rc.d answering 101 forbids it, as in a container build.
  MADE_POLICY=no
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
    MADE_POLICY=yes
  fi
  set +e
  timeout 300 apt-get update -qq && DEBIAN_FRONTEND=noninteractive timeout 300 \
    apt-get install -y -qq --no-install-recommends "${PKGS[@]}" >"$TMP/apt.log" 2>&1
  apt_status=$?
  set -e
  [ "$MADE_POLICY" = yes ] && rm -f /usr/sbin/policy-rc.d
  if [ "$apt_status" -ne 0 ]; then
    tail -20 "$TMP/apt.log" >&2
    echo "fleet-netns.sh: could not install ${PKGS[*]}" >&2
    exit 2
  fi
  echo "apt-get install ${PKGS[*]}: $(( $(date +%s) - T0 )) s"
fi
T0=$(date +%s)
python3 -m venv "$TMP/venv"
timeout 300 "$TMP/venv/bin/pip" install -q --disable-pip-version-check \
  -r deploy/ansible/requirements.txt
"$TMP/venv/bin/ansible-playbook" --version >"$TMP/ansible-version"
head -1 "$TMP/ansible-version"
echo "virtual environment and Ansible: $(( $(date +%s) - T0 )) s"

STAGE="building"
say "build (cargo build --release)"
cargo build --release --bins -p mass_connect --quiet

if [ "$SYSTEMD" = yes ]; then
  STAGE="making host d's root file system"
  say "host d: a Debian root file system with systemd, sshd and python3 (debootstrap)"
  # The release and the mirror this machine's apt uses.
  # shellcheck source=/dev/null
  codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
  mirror=$(cat /etc/apt/sources.list.d/*.sources 2>/dev/null |
    awk -v c="$codename" '/^URIs:/ { u = $2 } /^Suites:/ { for (i = 2; i <= NF; i++) if ($i == c) { print u; exit } }')
  if [ -z "$mirror" ]; then
    mirror=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
      awk -v c="$codename" '$1 == "deb" && $3 == c { print $2; exit }')
  fi
  if [ -z "$codename" ] || [ -z "$mirror" ]; then
    echo "fleet-netns.sh: --systemd: no Debian release or mirror in this machine's apt sources" >&2
    exit 2
  fi
  # One cache folder per release, mirror and package list: rootfs/ as
  # debootstrap made it (never booted), debootstrap.log, and the mark
  # `complete`, written last. It is made beside its place and moved there
  # at the end, so a cache folder is whole or absent.
  include=systemd,systemd-sysv,dbus,libnss-systemd,openssh-server,python3
  CACHED="$ROOTFS_CACHE/$codename-$(echo "$mirror $include" | sha256sum | cut -c1-12)"
  if [ ! -e "$CACHED/complete" ]; then
    T0=$(date +%s)
    mkdir -p "$ROOTFS_CACHE"
    rm -rf "$CACHED"
    ROOTFS_NEW="$CACHED.new.$$"
    mkdir "$ROOTFS_NEW"
    if ! timeout 600 debootstrap --variant=minbase --include="$include" \
        "$codename" "$ROOTFS_NEW/rootfs" "$mirror" >"$ROOTFS_NEW/debootstrap.log" 2>&1; then
      tail -20 "$ROOTFS_NEW/debootstrap.log" >&2
      echo "fleet-netns.sh: debootstrap $codename $mirror failed" >&2
      exit 2
    fi
    echo "debootstrap $codename from $mirror ($include): $(( $(date +%s) - T0 )) s" >"$ROOTFS_NEW/complete"
    mv "$ROOTFS_NEW" "$CACHED"
    ROOTFS_NEW=""
    echo "debootstrap $codename: $(( $(date +%s) - T0 )) s, $(du -sm "$CACHED/rootfs" | cut -f1) MB, kept in $CACHED"
  else
    echo "root file system from the cache: $CACHED ($(cat "$CACHED/complete"))"
  fi
  T0=$(date +%s)
  cp -a "$CACHED/rootfs" "$TMP/rootfs"
  echo "copied for this run: $(( $(date +%s) - T0 )) s"
fi

# ---------------------------------------------------------------- network
STAGE="making the network"
say "network: namespaces $P-sw (bridge br0), $P-ctl and one per host (${HOSTS[*]}), 198.18.0.0/24"
newns() { ip netns add "$1"; CREATED+=("$1"); ip -n "$1" link set lo up; }
newns "$P-sw"
ip -n "$P-sw" link add br0 type bridge
ip -n "$P-sw" link set br0 up
for h in "${HOSTS[@]}" ctl; do
  newns "$P-$h"
  ip -n "$P-sw" link add "port-$h" type veth peer name eth0 netns "$P-$h"
  ip -n "$P-sw" link set "port-$h" master br0 up
  ip -n "$P-$h" addr add "${ADDR[$h]}/24" dev eth0
  ip -n "$P-$h" link set eth0 up
done

# ---------------------------------------------------------------- sshd
STAGE="starting sshd on the hosts"
say "sshd on each host, bound to its own address; a throwaway client key"
if [ ! -d /run/sshd ]; then mkdir -m 755 /run/sshd; MADE_RUN_SSHD=yes; fi
ssh-keygen -q -t ed25519 -N '' -C "fleet-netns-$P" -f "$TMP/id_ed25519"
cp "$TMP/id_ed25519.pub" "$TMP/authorized_keys"
: >"$TMP/known_hosts"
for h in "${PLAIN[@]}"; do
  d="$TMP/hosts/$h"
  mkdir -p "$d"
  ssh-keygen -q -t ed25519 -N '' -C "fleet-netns-$P-$h" -f "$d/ssh_host_ed25519_key"
  echo "${ADDR[$h]} $(cut -d' ' -f1,2 "$d/ssh_host_ed25519_key.pub")" >>"$TMP/known_hosts"
  # StrictModes no: the keys live under /tmp, which is world-writable.
  cat >"$d/sshd_config" <<EOF
ListenAddress ${ADDR[$h]}:22
HostKey $d/ssh_host_ed25519_key
PidFile none
AuthorizedKeysFile $TMP/authorized_keys
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
PrintMotd no
Subsystem sftp internal-sftp
EOF
  /usr/sbin/sshd -t -f "$d/sshd_config"
  ip netns exec "$P-$h" /usr/sbin/sshd -D -f "$d/sshd_config" -E "$d/sshd.log" &
  STARTED+=("$!")
done
if [ "$SYSTEMD" = yes ]; then
  # The systemd host: its own sshd (the Debian package's, started by its systemd),
  # bound to its address, with the host key debootstrap made; root logs in
  # with the throwaway key.
  # A host key of this run's own: the ones debootstrap made are in the cache,
  # shared by every run.
  F="$TMP/rootfs"
  mkdir -p "$F/root/.ssh" && chmod 700 "$F/root/.ssh"
  install -m 600 "$TMP/id_ed25519.pub" "$F/root/.ssh/authorized_keys"
  rm -f "$F"/etc/ssh/ssh_host_*
  ssh-keygen -q -t ed25519 -N '' -C "fleet-netns-$P-$SD" -f "$F/etc/ssh/ssh_host_ed25519_key"
  printf 'ListenAddress %s\nHostKey /etc/ssh/ssh_host_ed25519_key\nPasswordAuthentication no\n' \
    "${ADDR[$SD]}" >"$F/etc/ssh/sshd_config.d/fleet.conf"
  echo "${ADDR[$SD]} $(cut -d' ' -f1,2 "$F/etc/ssh/ssh_host_ed25519_key.pub")" >>"$TMP/known_hosts"
  [ -d /run/systemd/nspawn ] || MADE_NSPAWN_RUN=yes
  # --keep-unit --register=no: no machined on this side, and when PID 1
  # here is not systemd, no systemd to make the container a scope either.
  # Then systemd-nspawn would put its payload/ and supervisor/ cgroups
  # beside this shell's own (the root cgroup, in a container like this
  # machine's): give it a cgroup of this run's own in each hierarchy it
  # uses (the v1 name=systemd one and the v2 one), removed at the end.
  if [ "$(cat /proc/1/comm)" != systemd ]; then
    for hier in /sys/fs/cgroup/systemd /sys/fs/cgroup/unified /sys/fs/cgroup; do
      [ -e "$hier/cgroup.procs" ] || continue
      case "$(stat -f -c %T "$hier")" in
        cgroup2fs) here=$(sed -n 's/^0:://p' /proc/self/cgroup) ;;
        cgroupfs) [ "$hier" = /sys/fs/cgroup/systemd ] || continue
          here=$(sed -n 's/^[0-9]*:name=systemd://p' /proc/self/cgroup) ;;
        *) continue ;;
      esac
      cg="$hier${here%/}/mass_connect-$P"
      mkdir "$cg"
      NSPAWN_CGROUPS+=("$cg")
    done
  fi
  # The subshell moves itself into those cgroups, then becomes
  # systemd-nspawn (setsid does not fork here: a background subshell
  # of a script leads no process group), so $! is systemd-nspawn's PID.
  (
    for cg in "${NSPAWN_CGROUPS[@]}"; do echo "$BASHPID" >"$cg/cgroup.procs"; done
    exec setsid systemd-nspawn -D "$F" --boot --network-namespace-path="/run/netns/$P-$SD" \
      --register=no --keep-unit -M "$P-$SD" --console=passive
  ) </dev/null >"$TMP/nspawn.log" 2>&1 &
  NSPAWN_PID=$!
fi
SSH_OPTS=(-o BatchMode=yes -o IdentitiesOnly=yes -o IdentityFile="$TMP/id_ed25519"
  -o UserKnownHostsFile="$TMP/known_hosts" -o GlobalKnownHostsFile=/dev/null
  -o StrictHostKeyChecking=yes -o ConnectTimeout=5
  -o ProxyCommand="ip netns exec $P-ctl nc %h %p")
for h in "${HOSTS[@]}"; do
  up=no
  # The systemd host boots first: up to 60 s; the others, 10 s.
  for _ in $(seq "$([ "$h" = "$SD" ] && echo 300 || echo 50)"); do
    if timeout 10 ssh "${SSH_OPTS[@]}" "root@${ADDR[$h]}" true 2>/dev/null; then up=yes; break; fi
    sleep 0.2
  done
  if [ "$up" != yes ]; then
    echo "fleet-netns.sh: host $h: no SSH answer on ${ADDR[$h]}:22 in time; its log:" >&2
    cat "$TMP/hosts/$h/sshd.log" "$TMP/nspawn.log" 2>/dev/null | tail -30 >&2
    exit 1
  fi
  echo "host $h: sshd on ${ADDR[$h]}:22 answers (ssh root@${ADDR[$h]} via the ctl namespace)$(
    [ "$h" = "$SD" ] && echo "; PID 1 there: $(timeout 10 ssh "${SSH_OPTS[@]}" "root@${ADDR[$h]}" cat /proc/1/comm)")"
done

# ---------------------------------------------------------------- inventory
# The same shape as deploy/ansible/inventory.example.yml, plus what this
# test needs: the SSH options above, the direct runner, and folders of
# each host's own (the hosts share one file system). log_switch is on so
# that every host has a log folder to fetch.
#
# The load: every host's 3 clients link to every server, 10 updates/s per
# link (100 ms). With the original's ten hosts, each running 3 servers and
# 3 clients, that is 30 clients x 30 servers = 900 links and 9,000 updates/s
# on this machine's 2 CPUs, with 1,800 link threads: the same order as the
# seed run (100 x 3 at 20 ms, 15,000 updates/s), which it holds.
# With --systemd the servers' link threads are pinned (cpu_affinity
# by-server, sched_setaffinity), so that the look at the unit shows that
# call, too, passing its system call filter.
CFG="$TMP/config.json"
AFFINITY=off
[ "$SYSTEMD" = no ] || AFFINITY=by-server
SERVER_IPS=$(for h in "${SERVER_HOSTS[@]}"; do printf '%s;' "${ADDR[$h]}"; done)
cat >"$CFG" <<EOF
{
  "server_ip_list": "${SERVER_IPS%;}",
  "server_port_list": "18677;18678;18679",
  "client_num_per_host": 3,
  "update_intervals": 100,
  "ops_token": "fleet-$P-$RANDOM$RANDOM$RANDOM",
  "request_timeout_ms": 2000,
  "connect_timeout_ms": 1000,
  "reconnect_initial_ms": 50,
  "reconnect_max_ms": 1000,
  "idle_timeout_ms": 10000,
  "cpu_affinity": "$AFFINITY",
  "log_switch": true
}
EOF
INV="$TMP/inventory.yml"
# For Ansible's ssh command line (split like a shell would; no spaces in $TMP).
SSH_ARGS="-o IdentitiesOnly=yes -o UserKnownHostsFile=$TMP/known_hosts"
SSH_ARGS+=" -o GlobalKnownHostsFile=/dev/null -o StrictHostKeyChecking=yes"
SSH_ARGS+=" -o \"ProxyCommand=ip netns exec $P-ctl nc %h %p\""
cat >"$INV" <<EOF
all:
  children:
    mass_connect:
      vars:
        ansible_user: root
        ansible_python_interpreter: /usr/bin/python3
        ansible_ssh_private_key_file: $TMP/id_ed25519
        ansible_ssh_common_args: '$SSH_ARGS'
        ansible_remote_tmp: "$TMP/hosts/{{ inventory_hostname }}/ansible-tmp"
        mass_connect_runner: direct
        mass_connect_run: fleet
        mass_connect_config: $CFG
        mass_connect_bin_dir: $ROOT/target/release
        mass_connect_reports_dir: $TMP/reports
        mass_connect_install_dir: "$TMP/hosts/{{ inventory_hostname }}/opt/bin"
        mass_connect_config_dir: "$TMP/hosts/{{ inventory_hostname }}/etc"
        mass_connect_state_dir: "$TMP/hosts/{{ inventory_hostname }}/var"
        mass_connect_poll: 2
        mass_connect_drain_timeout: 30s
        mass_connect_sample_every: 5s
      children:
        mass_connect_servers:
          hosts:
EOF
for h in "${SERVER_HOSTS[@]}"; do
  [ "$h" = "$SD" ] || echo "            $h: { ansible_host: ${ADDR[$h]}, mass_connect_host: ${ADDR[$h]} }" >>"$INV"
done
if [ "$SYSTEMD" = yes ]; then
  # The systemd host has a file system of its own: the unit's paths, the
  # systemd runner.
  cat >>"$INV" <<EOF
            $SD:
              ansible_host: ${ADDR[$SD]}
              mass_connect_host: ${ADDR[$SD]}
              mass_connect_runner: systemd
              mass_connect_install_dir: /opt/mass_connect/bin
              mass_connect_config_dir: /etc/mass_connect
              mass_connect_state_dir: /var/lib/mass_connect
              ansible_remote_tmp: /root/.ansible/tmp
EOF
fi
if [ ${#CLIENT_HOSTS[@]} -gt 0 ]; then
  printf '        mass_connect_clients:\n          hosts:\n' >>"$INV"
fi
for h in "${CLIENT_HOSTS[@]}"; do
  echo "            $h: { ansible_host: ${ADDR[$h]}, mass_connect_host: ${ADDR[$h]} }" >>"$INV"
done
NH=${#HOSTS[@]}

# play NAME PLAYBOOK ARGS...: runs the playbook, output to $TMP/NAME.log and here;
# at most 10 minutes.
play() {
  local name=$1
  shift
  local t0 rc=0
  t0=$(date +%s)
  (cd "$ROOT/deploy/ansible" && timeout 600 "$TMP/venv/bin/ansible-playbook" -i "$INV" "$@") \
    >"$TMP/$name.log" 2>&1 || rc=$?
  echo "ansible-playbook $* -> exit status $rc in $(( $(date +%s) - t0 )) s (log: $name.log)"
  return "$rc"
}
# changed= of every host in the last PLAY RECAP of a log, summed.
changed() { grep -E '^[a-u] +: ok=' "$TMP/$1.log" | grep -oE 'changed=[0-9]+' | awk -F= '{ s += $2 } END { print s + 0 }'; }
recap() { sed -n '/^PLAY RECAP/,$p' "$TMP/$1.log" | sed 's/^/    /'; }

FAIL=0
check() { # description, condition result (0 = passed)
  if [ "$2" -eq 0 ]; then echo "  ok    $1"; else echo "  FAIL  $1"; FAIL=1; fi
}

# ---------------------------------------------------------------- playbook
STAGE="running the playbook with --check on fresh hosts"
say "1. --check on fresh hosts: reports what it would change, changes nothing"
rc=0; play 1-check site.yml --check || rc=$?
recap 1-check
n=$(changed 1-check)
made=$(find "$TMP/hosts" -mindepth 2 -maxdepth 2 \( -name opt -o -name etc -o -name var \) | wc -l)
[ "$SYSTEMD" = yes ] && made=$((made + $(find "$TMP/rootfs/opt" "$TMP/rootfs/etc" -maxdepth 1 -name 'mass_connect' 2>/dev/null | wc -l || true)))
check "--check passed (exit status $rc), would change $n things, made $made folders, started nothing" \
  "$([ "$rc" -eq 0 ] && [ "$n" -gt 0 ] && [ "$made" -eq 0 ]; echo $?)"

STAGE="deploying"
say "2. deploy (--tags deploy)"
rc=0; play 2-deploy site.yml --tags deploy || rc=$?
recap 2-deploy
n=$(changed 2-deploy)
check "deploy passed (exit status $rc), changed $n things" "$([ "$rc" -eq 0 ] && [ "$n" -gt 0 ]; echo $?)"
[ "$rc" -eq 0 ] || { tail -40 "$TMP/2-deploy.log"; exit 1; }

STAGE="deploying a second time"
say "3. deploy again: idempotent, nothing changes"
rc=0; play 3-deploy-again site.yml --tags deploy || rc=$?
recap 3-deploy-again
n=$(changed 3-deploy-again)
check "second deploy passed (exit status $rc) and changed nothing (changed=$n)" \
  "$([ "$rc" -eq 0 ] && [ "$n" -eq 0 ]; echo $?)"

STAGE="running the fleet"
say "4. the whole playbook: a ${DURATION} s run on ${SERVER_HOSTS[*]} (servers + clients)$(
  [ ${#CLIENT_HOSTS[@]} -eq 0 ] || echo " and ${CLIENT_HOSTS[*]} (clients only)")"
if [ "$SYSTEMD" = yes ]; then
  # A look at the unit on host SD while it runs, from inside the container:
  # once it is active, and 8 s on (its servers and clients are up then),
  # what systemd says of it, the sandbox's score on the running unit, and
  # its processes' user, threads, scheduling, limits and seccomp state. At
  # most 3 minutes of looking; it ends by itself.
  cat >"$TMP/unit-look.sh" <<'LOOK'
u=mass-connect@fleet.service
echo "\$ cat /proc/1/comm   # PID 1 in the container"; cat /proc/1/comm
echo "\$ systemctl status --no-pager -l -n 5 $u"; systemctl status --no-pager -l -n 5 "$u"
props="-p MainPID -p User -p DynamicUser -p TasksMax -p LimitNOFILE -p LimitNPROC -p ControlGroup"
echo "\$ systemctl show $u $props"
# shellcheck disable=SC2086  # props is a list of words
systemctl show "$u" $props
main=$(systemctl show -P MainPID "$u")
cg=$(systemctl show -P ControlGroup "$u")
echo "\$ the unit's processes (its cgroup's cgroup.procs): pid, user, threads and their scheduling policy, CPUs they may run on, command"
for pid in $(cat "/sys/fs/cgroup/systemd$cg/cgroup.procs" 2>/dev/null || cat "/sys/fs/cgroup/unified$cg/cgroup.procs"); do
  # Field 41 of /proc/PID/task/TID/stat, the policy (0 normal, 5 SCHED_IDLE),
  # counted after the command's closing parenthesis (a name may hold spaces).
  policy=$(for t in /proc/"$pid"/task/*; do sed 's/.*) //' "$t/stat" | cut -d' ' -f39; done |
    awk '{ n[$1]++ } END { printf "%d normal, %d idle", n[0], n[5] }')
  cpus=$(cat /proc/"$pid"/task/*/status | sed -n 's/^Cpus_allowed_list:\t//p' | sort | uniq -c |
    awk '{ printf "%s%d on %s", s, $1, $2; s = ", " }')
  printf '  %s %s %s threads (%s; CPUs: %s) %s\n' "$pid" "$(stat -c %U "/proc/$pid")" \
    "$(sed -n 's/^Threads:\t//p' "/proc/$pid/status")" "$policy" "$cpus" \
    "$(tr '\0' ' ' <"/proc/$pid/cmdline" | cut -d' ' -f1,4-7)"
done
echo "\$ grep -E '^(Uid|NoNewPrivs|Seccomp|CapEff|CapBnd)' /proc/$main/status"
grep -E '^(Uid|NoNewPrivs|Seccomp|CapEff|CapBnd)' "/proc/$main/status"
echo "\$ grep -E 'open files|processes' /proc/$main/limits"
grep -E 'open files|processes' "/proc/$main/limits"
echo "\$ cat /sys/fs/cgroup/pids$cg/pids.max   # TasksMax, where the pids controller is there to enforce it"
cat "/sys/fs/cgroup/pids$cg/pids.max" 2>&1 || cat "/sys/fs/cgroup/unified$cg/pids.max" 2>&1
echo "\$ systemd-analyze security --no-pager $u   # the running unit"
systemd-analyze security --no-pager "$u"
LOOK
  unit_look() {
    local i
    for i in $(seq 90); do
      if timeout 20 ssh "${SSH_OPTS[@]}" "root@${ADDR[$SD]}" \
        systemctl is-active --quiet mass-connect@fleet.service 2>/dev/null; then
        sleep 8
        timeout 60 ssh "${SSH_OPTS[@]}" "root@${ADDR[$SD]}" bash -s <"$TMP/unit-look.sh"
        return
      fi
      sleep 2
    done
    echo "mass-connect@fleet.service was not seen active in 3 minutes"
  }
  unit_look >"$TMP/systemd-unit.log" 2>&1 &
  WATCH_PID=$!
fi
rc=0; play 4-run site.yml -e "mass_connect_duration=${DURATION}s" || rc=$?
# What the play printed: each host's own verdict, the merged summary, the verdict.
sed -n '/^TASK \[mass_connect : Each host/,/^PLAY RECAP/p' "$TMP/4-run.log"
recap 4-run
ok_line=$(grep -m1 -E '^ +OK: [0-9]+ = ' "$TMP/4-run.log" | sed 's/^ *//' || true)
# The YAML callback doubles the apostrophe and may wrap the line: match its start.
pass_msg=$(grep -c "msg: 'PASS: merged verdict over $NH hosts" "$TMP/4-run.log" || true)
check "the run passed (exit status $rc), the play said PASS ($pass_msg)" \
  "$([ "$rc" -eq 0 ] && [ "$pass_msg" -eq 1 ]; echo $?)"
# The run folder: each host's report, samples CSV (a header and rows), HTML
# report, output and log folder (startup's log and one per child), and the
# merged verdict beside them.
R="$TMP/reports"
got=0
missing=()
for h in "${HOSTS[@]}"; do
  d="$R/$h"
  rows=$(($(wc -l <"$d/samples.csv" 2>/dev/null || echo 0) - 1))
  logs=$(find "$d/logs" -mindepth 2 -maxdepth 2 -name '*.log' 2>/dev/null | wc -l || true)
  if [ -s "$d/report.json" ] && [ "$rows" -ge 1 ] && grep -qi '<html' "$d/report.html" 2>/dev/null &&
    [ -s "$d/startup.log" ] && [ -s "$(find "$d/logs" -path '*-startup-*/startup.log' 2>/dev/null | head -1)" ]; then
    got=$((got + 1))
    echo "    $h: report.json, samples.csv ($rows rows), report.html, startup.log, logs/ ($logs files)"
  else
    missing+=("$h")
    echo "    $h: incomplete: $(cd "$d" 2>/dev/null && find . -maxdepth 3 | sort | paste -sd' ')"
  fi
done
check "every host's report, samples CSV, HTML report, output and log folder came back ($got of $NH${missing:+; missing: ${missing[*]}})" \
  "$([ "$got" -eq "$NH" ]; echo $?)"
check "the merged verdict beside them (verdict.txt, verdict.json, hosts.json)" \
  "$([ -s "$R/verdict.txt" ] && [ -s "$R/verdict.json" ] && [ -s "$R/hosts.json" ]; echo $?)"
if [ "$SYSTEMD" = yes ]; then
  # How the unit ended, from the journal: a unit that ended without failing
  # is unloaded soon after, and `systemctl show` then reads it afresh
  # (Result=success, ExecMainStatus=0 whatever happened), so its
  # properties prove nothing; a failed unit would stay "failed".
  unit=$(timeout 20 ssh "${SSH_OPTS[@]}" "root@${ADDR[$SD]}" \
    'systemctl show mass-connect@fleet.service -p ActiveState; journalctl -u mass-connect@fleet.service -o cat --no-pager |
      grep -E "mass-connect@fleet.service: (Deactivated|Failed|Main process)" | tail -1' | paste -sd' ' || true)
  check "host $SD ran the run as mass-connect@fleet.service under systemd and it ended well ($unit)" \
    "$([[ "$unit" == *ActiveState=inactive* && "$unit" == *"Deactivated successfully"* ]]; echo $?)"
  wait "$WATCH_PID" 2>/dev/null || true
  WATCH_PID=""
  echo "--- host $SD, inside the container, while the run went on:"
  sed 's/^/    /' "$TMP/systemd-unit.log"
  score=$(sed -n 's/.*Overall exposure level for mass-connect@fleet.service: //p' "$TMP/systemd-unit.log")
  check "host $SD: systemd was PID 1, the unit active (running) as its dynamic user, exposure $score" \
    "$(grep -qx systemd "$TMP/systemd-unit.log" && grep -q 'Active: active (running)' "$TMP/systemd-unit.log" &&
      grep -qx DynamicUser=yes "$TMP/systemd-unit.log" && [ -n "$score" ]; echo $?)"
  # A system call the filter refuses fails with EPERM (SystemCallErrorNumber),
  # which the programs report: none may appear in the output or the logs.
  eperm=$(cat "$R/$SD/startup.log" "$R/$SD"/logs/*/*.log 2>/dev/null |
    grep -ciE 'operation not permitted|os error 1\)|EPERM' || true)
  check "host $SD: no 'operation not permitted' in its output and logs ($eperm lines)" "$([ "$eperm" -eq 0 ]; echo $?)"
fi
check "merged verdict: ${ok_line:-no OK line}" "$([ -n "$ok_line" ]; echo $?)"
if [ "$rc" -ne 0 ]; then
  echo "--- the run's playbook output, last 60 lines:"
  tail -60 "$TMP/4-run.log"
fi

STAGE="tearing down"
say "5. teardown.yml: stops and removes everything deploy put on the hosts"
rc=0; play 5-teardown teardown.yml || rc=$?
recap 5-teardown
n=$(changed 5-teardown)
# What deploy made: each namespace host's opt/, etc/ and var/ (the
# folders it was given); on the systemd host, the unit's paths.
left=$(find "$TMP/hosts" -mindepth 2 -maxdepth 2 \( -name opt -o -name etc -o -name var \) | wc -l)
if [ "$SYSTEMD" = yes ]; then
  left=$((left + $(find "$TMP/rootfs/opt/mass_connect" "$TMP/rootfs/etc/mass_connect" \
    "$TMP/rootfs/var/lib/mass_connect" "$TMP/rootfs/var/lib/private/mass_connect" \
    "$TMP/rootfs/etc/systemd/system/mass-connect@.service" \
    "$TMP/rootfs/etc/systemd/system/mass-connect@fleet.service.d" -maxdepth 0 2>/dev/null | wc -l || true)))
fi
check "teardown passed (exit status $rc), changed $n things, left $left of deploy's folders and files" \
  "$([ "$rc" -eq 0 ] && [ "$n" -gt 0 ] && [ "$left" -eq 0 ]; echo $?)"

STAGE="tearing down a second time"
say "6. teardown again: idempotent, nothing changes"
rc=0; play 6-teardown-again teardown.yml || rc=$?
recap 6-teardown-again
n=$(changed 6-teardown-again)
check "second teardown passed (exit status $rc) and changed nothing (changed=$n)" \
  "$([ "$rc" -eq 0 ] && [ "$n" -eq 0 ]; echo $?)"

[ -z "$OUT" ] || echo "  config, inventory, playbook logs and the run folder: $OUT"
STAGE="checking the results"
UNDER_SYSTEMD=""
[ "$SYSTEMD" = no ] || UNDER_SYSTEMD=", $SD under systemd"
VERDICT_LINE="merged verdict over $NH hosts (${#SERVER_HOSTS[@]} server hosts, $((NH - ${#SERVER_HOSTS[@]})) clients-only$UNDER_SYSTEMD;"
VERDICT_LINE+=" ${DURATION} s, Ansible over SSH) ${ok_line%%;*}"
exit "$FAIL"
