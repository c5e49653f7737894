#!/usr/bin/env bash
# Offline checks of deploy/ that need neither hosts nor a cluster, so CI runs
# them everywhere (scripts/fleet-netns.sh runs the playbook for real where
# network namespaces can be made):
#   1. the role's limit arithmetic agrees with startup's pre-flight;
#   2. the playbooks parse (ansible-playbook --syntax-check, the pinned
#      ansible-core) and the example config loads (omclient config);
#   3. the Kubernetes manifests validate against the Kubernetes 1.31 schemas
#      (kubernetes-validate --strict, which carries them: no cluster);
#   4. the ConfigMap's config loads once resolve.sh has filled in
#      server_ip_list, and its scripts parse (sh -n); resolve.sh runs for
#      real against a private /etc/hosts (root and unshare only);
#   5. systemd-analyze verify passes on mass-connect@.service with the
#      role's limits drop-in and env file rendered from its templates,
#      and prints nothing (it exits 0 on an unknown key, so its output is
#      what counts); systemd-analyze security scores its sandbox at most
#      2.0 (of 10);
#   6. ansible-lint passes on the playbooks and the role with the
#      production profile (its strictest), and yamllint on every YAML file
#      of deploy/, warnings counted as failures (-s): no findings at all.
# Needs python3 (venv) and systemd-analyze (apt-get install systemd when
# missing). Installs ansible-core, ansible-lint, yamllint
# (deploy/ansible/requirements*.txt) and kubernetes-validate in a throwaway
# virtual environment; leaves nothing behind.
#
# Usage: deploy/check.sh      Exit status 0 when every check passed.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
export PYTHONDONTWRITEBYTECODE=1
KUBERNETES=1.31.0
KUBERNETES_VALIDATE=kubernetes-validate==1.31.0

TMP=$(mktemp -d /tmp/mass_connect-deploy-check.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
say() { printf '\n-- %s\n' "$*"; }
T0=$(date +%s)

say "1. limits arithmetic = startup's pre-flight (src/launcher/preflight/needs.rs)"
python3 deploy/ansible/roles/mass_connect/filter_plugins/mass_connect.py

say "tools: ansible-core, ansible-lint, yamllint (deploy/ansible/requirements*.txt) and $KUBERNETES_VALIDATE in a virtual environment"
python3 -m venv "$TMP/venv"
timeout 400 "$TMP/venv/bin/pip" install -q --disable-pip-version-check \
  -r deploy/ansible/requirements.txt -r deploy/ansible/requirements-lint.txt "$KUBERNETES_VALIDATE"
echo "installed in $(( $(date +%s) - T0 )) s"
export ANSIBLE_HOME="$TMP/ansible-home" ANSIBLE_LOCAL_TEMP="$TMP/ansible-home/tmp"
export ANSIBLE_REMOTE_TEMP="$TMP/ansible-home/remote-tmp"
export ANSIBLE_CONFIG="$ROOT/deploy/ansible/ansible.cfg" ANSIBLE_NOCOLOR=1

say "2. the playbooks parse (site.yml, teardown.yml); the example config loads"
(cd deploy/ansible && "$TMP/venv/bin/ansible-playbook" --syntax-check -i inventory.example.yml site.yml teardown.yml)
OMCLIENT=""
for dir in target/release target/debug; do
  if [ -x "$dir/omclient" ]; then OMCLIENT="$dir/omclient"; break; fi
done
if [ -n "$OMCLIENT" ]; then
  "$OMCLIENT" config --config deploy/ansible/fleet.example.json >/dev/null
  echo "deploy/ansible/fleet.example.json loads ($OMCLIENT config)"
else
  echo "SKIPPED: no built omclient (cargo build first) to load the example config with"
fi

say "3. Kubernetes manifests against the $KUBERNETES schemas (offline; not run on a cluster)"
"$TMP/venv/bin/kubernetes-validate" -k "$KUBERNETES" --strict $(ls deploy/k8s/*.yaml | grep -v /kustomization.yaml)
"$TMP/venv/bin/python" - <<'EOF'
import yaml
k = yaml.safe_load(open("deploy/k8s/kustomization.yaml"))
missing = [r for r in k["resources"] if not __import__("os").path.exists("deploy/k8s/" + r)]
assert not missing, "kustomization.yaml lists missing files: %s" % missing
print("kustomization.yaml lists", len(k["resources"]), "manifests, all present")
EOF

say "4. the ConfigMap's scripts and config"
"$TMP/venv/bin/python" - "$TMP" <<'EOF'
import sys, yaml
out = sys.argv[1]
docs = [d for d in yaml.safe_load_all(open("deploy/k8s/configmap.yaml")) if d]
data = docs[0]["data"]
for name in ("resolve.sh", "run.sh", "verify.sh", "config.json"):
    open(f"{out}/{name}", "w").write(data[name])
print("extracted resolve.sh, run.sh, verify.sh, config.json; server-pods", data["server-pods"],
      "client-pods", data["client-pods"])
EOF
for s in resolve.sh run.sh verify.sh; do sh -n "$TMP/$s" && echo "$s parses (sh -n)"; done
SERVER_PODS=$(sed -n 's/^  server-pods: "\([0-9]*\)"/\1/p' deploy/k8s/configmap.yaml)
SERVER_COMPLETIONS=$(sed -n 's/^  completions: \([0-9]*\)/\1/p' deploy/k8s/servers.yaml)
CLIENT_PODS=$(sed -n 's/^  client-pods: "\([0-9]*\)"/\1/p' deploy/k8s/configmap.yaml)
COMPLETIONS=$(sed -n 's/^  completions: \([0-9]*\)/\1/p' deploy/k8s/clients.yaml)
if [ "$SERVER_PODS" != "$SERVER_COMPLETIONS" ] || [ "$CLIENT_PODS" != "$COMPLETIONS" ]; then
  echo "configmap.yaml's server-pods/client-pods ($SERVER_PODS/$CLIENT_PODS) differ from the" \
    "servers and clients Jobs' completions ($SERVER_COMPLETIONS/$COMPLETIONS)" >&2
  exit 1
fi
echo "server-pods = servers Job completions = $SERVER_COMPLETIONS; client-pods = clients Job completions = $COMPLETIONS"
# resolve.sh refuses the Secret's placeholder and a token JSON could not
# hold as it is; then, for real, the servers Job's names in a private /etc/hosts
# (a mount namespace of its own; the machine's file is untouched), then the
# config it writes must load. Names only: nothing connects anywhere.
for bad in "" replace-me-with-openssl-rand-hex-32 'has"quote-0123456789' short; do
  if OPS_TOKEN="$bad" SERVER_PODS=1 OUT_DIR="$TMP/refused" sh "$TMP/resolve.sh" </dev/null 2>/dev/null; then
    echo "resolve.sh accepted the ops-token '$bad'" >&2
    exit 1
  fi
done
echo "resolve.sh refuses an empty ops-token, the placeholder, a quote and a short one"
TOKEN=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
if [ "$(id -u)" -eq 0 ] && command -v unshare >/dev/null && unshare -m true 2>/dev/null && [ -n "$OMCLIENT" ]; then
  hosts="$TMP/hosts"
  cp /etc/hosts "$hosts"
  for i in $(seq 0 $((SERVER_PODS - 1))); do
    echo "198.18.1.$((i + 1)) mass-connect-server-$i.mass-connect-server" >>"$hosts"
  done
  mkdir -p "$TMP/run"
  # resolve.sh resolves with `omclient resolve` (the image has no getent):
  # the built one here, /usr/local/bin/omclient in the image.
  OPS_TOKEN="$TOKEN" SERVER_PODS="$SERVER_PODS" CONFIG_IN="$TMP/config.json" OUT_DIR="$TMP/run" \
    OMCLIENT="$ROOT/$OMCLIENT" unshare -m sh -c 'mount --bind "$1" /etc/hosts && exec sh "$2"' sh "$hosts" "$TMP/resolve.sh" \
    </dev/null 2>&1 | sed 's/^/  /'
  want=$(seq 1 "$SERVER_PODS" | sed 's/^/198.18.1./' | paste -sd';')
  got=$("$OMCLIENT" config --config "$TMP/run/config.json" | tr -d ' \n' |
    sed -n 's/.*"server_ip_list":\[\([^]]*\)\].*/\1/p' | tr -d '"' | tr ',' ';')
  if [ "$got" != "$want" ]; then
    echo "resolve.sh wrote server_ip_list '$got', expected '$want'" >&2
    exit 1
  fi
  if ! grep -q "\"ops_token\": \"$TOKEN\"" "$TMP/run/config.json" ||
    [ "$(stat -c %a "$TMP/run/config.json")" != 600 ]; then
    echo "resolve.sh did not write the Secret's token into a config of mode 600" >&2
    exit 1
  fi
  echo "resolve.sh filled server_ip_list with the pods' addresses in index order and the" \
    "token from the Secret (mode 600); the config loads"
else
  echo "SKIPPED: running resolve.sh needs root, unshare -m and a built omclient; checked the template only"
  sed -e 's/@SERVER_IPS@/198.18.1.1/' -e "s/@OPS_TOKEN@/$TOKEN/" "$TMP/config.json" >"$TMP/config-1.json"
  [ -z "$OMCLIENT" ] || "$OMCLIENT" config --config "$TMP/config-1.json" >/dev/null
fi

say "5. systemd-analyze verify deploy/systemd/mass-connect@.service"
if ! command -v systemd-analyze >/dev/null; then
  timeout 300 apt-get update -qq && DEBIAN_FRONTEND=noninteractive timeout 300 \
    apt-get install -y -qq systemd >/dev/null
fi
systemd-analyze --version | sed -n 1p
# An offline root: the unit, the playbook's drop-in and env file for a run
# "fleet" on a server host of docs/DEPLOY.md's ten-host example, rendered from
# the role's own templates (deploy/ansible/roles/mass_connect/templates/),
# and systemd's own units (verify loads the
# unit's dependencies). verify also checks that ExecStart's program exists
# and is executable there: the built startup, or a stand-in.
R="$TMP/root"
mkdir -p "$R/etc/systemd/system" "$R/opt/mass_connect/bin" "$R/etc/mass_connect" "$R/usr/lib/systemd"
cp -a /usr/lib/systemd/system "$R/usr/lib/systemd/"
cp deploy/systemd/mass-connect@.service "$R/etc/systemd/system/"
if [ -x target/release/startup ]; then
  cp target/release/startup "$R/opt/mass_connect/bin/"
else
  printf '#!/bin/sh\nexit 2\n' >"$R/opt/mass_connect/bin/startup"
  chmod 755 "$R/opt/mass_connect/bin/startup"
fi
cp deploy/ansible/fleet.example.json "$R/etc/mass_connect/fleet.json"
"$TMP/venv/bin/python" - "$TMP/vars.json" <<'EOF'
import json, sys
sys.path.insert(0, "deploy/ansible/roles/mass_connect/filter_plugins")
from mass_connect import needs
config = json.load(open("deploy/ansible/fleet.example.json"))
json.dump({
    "mass_connect_run": "fleet", "__mass_connect_needs": needs(config, "10.0.0.1", 10),
    "__mass_connect_unit_nofile": 65536, "__mass_connect_unit_tasks": 32768,
    "__mass_connect_run_dir": "/var/lib/mass_connect/fleet",
    "inventory_hostname": "load-01", "mass_connect_host": "10.0.0.1",
    "mass_connect_duration": "10m", "mass_connect_drain_timeout": "60s", "mass_connect_wait_servers": "60s",
    "mass_connect_sample_every": "10s", "mass_connect_extra_args": "",
}, open(sys.argv[1], "w"))
EOF
mkdir -p "$R/etc/systemd/system/mass-connect@fleet.service.d"
for t in "limits.conf.j2 $R/etc/systemd/system/mass-connect@fleet.service.d/limits.conf" \
         "run.env.j2 $R/etc/mass_connect/fleet.env"; do
  set -- $t
  if ! out=$("$TMP/venv/bin/ansible" localhost -i localhost, -c local -o -e "@$TMP/vars.json" \
    -e ansible_python_interpreter="$TMP/venv/bin/python" -m ansible.builtin.template \
    -a "src=$ROOT/deploy/ansible/roles/mass_connect/templates/$1 dest=$2" 2>&1); then
    echo "rendering deploy/ansible/roles/mass_connect/templates/$1 failed:" >&2
    echo "$out" >&2
    exit 1
  fi
done
grep -E '^(LimitNOFILE|LimitNPROC|TasksMax)=' "$R/etc/systemd/system/mass-connect@fleet.service.d/limits.conf" |
  sed 's/^/  drop-in for a server host of the ten-host example: /'
for unit in mass-connect@fleet.service mass-connect@.service; do
  set +e
  out=$(systemd-analyze verify --root="$R" "$unit" 2>&1)
  status=$?
  set -e
  if [ "$status" -ne 0 ] || [ -n "$out" ]; then
    echo "systemd-analyze verify $unit: exit status $status" >&2
    echo "$out" >&2
    exit 1
  fi
  echo "systemd-analyze verify --root=<offline root> $unit: OK, nothing printed"
done
# The unit's sandbox, scored: 1.4 of 10 ("OK") with systemd 252, against
# 6.4 ("MEDIUM") before its hardening lines (docs/DEPLOY.md lists what is
# left open and why). A line dropped by mistake raises it past 2.0.
score=$(systemd-analyze security --offline=yes --root="$R" mass-connect@fleet.service 2>&1 |
  sed -n 's/.*Overall exposure level for [^:]*: //p')
if ! systemd-analyze security --offline=yes --threshold=20 --root="$R" \
  mass-connect@fleet.service >/dev/null 2>&1; then
  echo "systemd-analyze security mass-connect@fleet.service: exposure $score, above 2.0" >&2
  exit 1
fi
echo "systemd-analyze security mass-connect@fleet.service: exposure $score (at most 2.0)"

say "6. ansible-lint (profile production) on the playbooks and the role; yamllint -s on deploy/"
T6=$(date +%s)
# ansible-lint runs ansible-playbook --syntax-check itself: the venv's, on
# PATH. Its configuration is deploy/ansible/.ansible-lint; yamllint's,
# deploy/.yamllint, which ansible-lint's yaml rule reads as well.
(cd deploy/ansible && PATH="$TMP/venv/bin:$PATH" YAMLLINT_CONFIG_FILE="$ROOT/deploy/.yamllint" \
  "$TMP/venv/bin/ansible-lint" --nocolor site.yml teardown.yml roles/mass_connect)
"$TMP/venv/bin/yamllint" -s -f parsable -c deploy/.yamllint deploy
echo "ansible-lint $("$TMP/venv/bin/python" -c 'import importlib.metadata as m; print(m.version("ansible-lint"))'):" \
  "no findings (profile production); yamllint: no findings in $(find deploy -name '*.y*ml' | wc -l) files;" \
  "$(( $(date +%s) - T6 )) s"

echo
echo "deploy/check.sh: all checks passed in $(( $(date +%s) - T0 )) s"
