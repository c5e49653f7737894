#!/usr/bin/env bash
# scripts/image-test.sh: build the FROM-scratch image (deploy/k8s/Containerfile)
# with podman and run the Kubernetes pods' scripts in it, on 127.0.0.1.
#
#   scripts/image-test.sh [--build-only]
#
# Steps, each printed with its time:
#   1. podman, runc and busybox-static (Debian's; apt-get install when
#      missing); a probe image of busybox alone must build and run, else
#      podman cannot run here (see IMAGE_SKIP_OK)
#   2. scripts/release.sh --linux-only: the static programs and their tarball
#   3. the build context from the unpacked tarball and the host's busybox,
#      `podman build`, and the image's size; the manifests must name the
#      image's tag (mass-connect:VERSION)
#   4. the pods' flow, each script in a container of the image, as its pod
#      runs it (user 65532, read-only root, no capabilities, the ConfigMap's
#      scripts mounted at /etc/mass-connect):
#      a. resolve.sh, no network: the server pod's name is in the
#         container's /etc/hosts (--add-host), as 127.0.0.1; the config it
#         writes must hold that address and the token, mode 600
#      b. run.sh, host network: startup runs 2 servers on 127.0.0.1 (free
#         ports in 28620-28699, never the default 18677-18679) and 2 clients
#         for 8 s; the host's omclient (from the tarball) polls the servers
#         until they answer (at most 60 s), then reads their stats; run.sh
#         must exit 0 and leave its report and status on /reports
#      c. verify.sh, no network: merges that report, must print verify: PASS
#      d. the README's quick start: `startup -i 20ms -d 5s` in the image with
#         no config file (the built-in defaults, on the default ports
#         18677-18679 of the host network), as a user with only the
#         programs runs it; it must PASS
#   --build-only  steps 1-3: build localhost/mass-connect:VERSION and stop
#   -h, --help    this text
#
# Environment:
#   IMAGE_SKIP_OK=1   when podman cannot run containers here, say SKIPPED and
#                     exit 0 (CI on machines without it); otherwise exit 2
#
# How podman runs here (on this project's machine crun refuses to set the
# container's rlimits): the OCI runtime is runc (`podman --runtime runc`),
# with `--ulimit host` and `default_ulimits = []` in a containers.conf of
# this script's own, named by CONTAINERS_CONF. Nothing else of the
# machine's podman setup is changed. No image is pulled: the build starts
# FROM scratch. Containers are removed when they end; the image stays
# (tagged), and the one it replaces is removed. Exit status: 0 passed (or
# skipped, with IMAGE_SKIP_OK=1), 1 a check failed, 2 cannot run here.
set -euo pipefail

usage() { sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d' | sed 's/^# \{0,1\}//'; }
BUILD_ONLY=0
case "${1:-}" in
    -h|--help) usage; exit 0 ;;
    --build-only) BUILD_ONLY=1 ;;
    "") ;;
    *) echo "image-test: unknown option '$1' (scripts/image-test.sh --help lists them)" >&2; exit 2 ;;
esac

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=scripts/release-lib.sh
. "$SCRIPT_DIR/release-lib.sh"
PROJ=$(cd "$SCRIPT_DIR/.." && pwd)
VERSION=$(mc_version "$PROJ")
IMAGE=localhost/mass-connect:$VERSION
PROBE_IMAGE=localhost/mass-connect-probe:$VERSION
DIST=$PROJ/target/release-dist
TARBALL=$DIST/mass_connect-$VERSION-x86_64-linux-musl.tar.gz
# The tools the ConfigMap's scripts call that are not sh builtins; step 4
# runs all three scripts, so one missing here fails there.
APPLETS=(sh sed ls wc cat mkdir sleep kill basename)
WORK=$(mktemp -d /tmp/mass_connect-image-test.XXXXXX)
T0=$SECONDS

# podman with this script's setup (see the help): runc, the host's rlimits.
cat >"$WORK/containers.conf" <<'EOF'
[containers]
default_ulimits = []
EOF
export CONTAINERS_CONF=$WORK/containers.conf
pm() { podman --runtime runc "$@"; }
# Every container this script starts runs with --rm under a name of its
# own, from a `podman run` in the foreground or whose PID is kept in
# RUN_PID: on exit that PID is stopped, and the named container removed.
NAME_PREFIX=mass-connect-image-test-$$
RUN_PID=""
on_exit() {
    local rc=$?
    mc_stop "$RUN_PID"
    for c in probe resolve run verify; do
        pm rm -f -t 5 "$NAME_PREFIX-$c" >/dev/null 2>&1 || true
    done
    pm rmi "$PROBE_IMAGE" >/dev/null 2>&1 || true
    rm -rf "$WORK"
    [ "$rc" -eq 0 ] || echo "image-test: FAILED at step: $STEP (exit status $rc)" >&2
    exit "$rc"
}
trap on_exit EXIT
cannot_run() {
    echo "image-test: cannot run here: $*"
    if [ "${IMAGE_SKIP_OK:-0}" = 1 ]; then echo "SKIPPED: podman cannot run containers on this machine"; exit 0; fi
    exit 2
}
fail() { echo "    FAILED: $*" >&2; exit 1; }

# ------------------------------------------------------------------ 1
step "1. podman, runc, busybox-static; can podman run a container here?"
missing=()
command -v podman >/dev/null || missing+=(podman)
command -v runc >/dev/null || missing+=(runc)
[ -x /bin/busybox ] && file -b /bin/busybox | grep -q 'statically linked' || missing+=(busybox-static)
if [ "${#missing[@]}" -gt 0 ]; then
    echo "    apt-get install ${missing[*]}"
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        "${missing[@]}"; } >"$WORK/apt.log" 2>&1 || { tail -20 "$WORK/apt.log"; cannot_run "apt-get install ${missing[*]} failed"; }
fi
echo "    $(podman --version), $(runc --version | head -1), $(/bin/busybox | head -1 | cut -d' ' -f1-2)"
mkdir -p "$WORK/probe"
cp /bin/busybox "$WORK/probe/"
printf 'FROM scratch\nCOPY busybox /bin/busybox\n' >"$WORK/probe/Containerfile"
if ! pm build -q -t "$PROBE_IMAGE" "$WORK/probe" >"$WORK/probe.log" 2>&1; then
    tail -5 "$WORK/probe.log"; cannot_run "podman build of a FROM-scratch image failed"
fi
if ! said=$(timeout 60 podman --runtime runc run --rm --name "$NAME_PREFIX-probe" --network none --ulimit host \
        "$PROBE_IMAGE" /bin/busybox echo probe-ran 2>&1) || [ "$said" != probe-ran ]; then
    echo "$said" | tail -5; cannot_run "podman run failed"
fi
pm rmi "$PROBE_IMAGE" >/dev/null
echo "    a FROM-scratch probe built and ran (runc, --ulimit host)"
step_done

# ------------------------------------------------------------------ 2
step "2. the static programs (scripts/release.sh --linux-only)"
bash "$SCRIPT_DIR/release.sh" --linux-only --out "$DIST" >"$WORK/release.log" 2>&1 || { tail -30 "$WORK/release.log"; fail "release.sh"; }
grep -E '^ *(PASS|throughput|mass_connect-)' "$WORK/release.log" | sed 's/^ */    release: /'
step_done

# ------------------------------------------------------------------ 3
step "3. build $IMAGE FROM scratch"
CTX=$WORK/context
mkdir -p "$CTX/bin" "$CTX/busybox" "$CTX/rootfs/tmp"
chmod 1777 "$CTX/rootfs/tmp"
tar -C "$WORK" -xzf "$TARBALL"
for b in server client startup omclient; do cp "$WORK/mass_connect-$VERSION-x86_64-linux-musl/$b" "$CTX/bin/"; done
HOST_OMCLIENT=$WORK/mass_connect-$VERSION-x86_64-linux-musl/omclient
cp /bin/busybox "$CTX/busybox/busybox"
for a in "${APPLETS[@]}"; do ln -s busybox "$CTX/busybox/$a"; done
cp "$PROJ/deploy/k8s/Containerfile" "$CTX/"
OLD_ID=$(pm image inspect --format '{{.Id}}' "$IMAGE" 2>/dev/null || true)
pm build -q -f "$CTX/Containerfile" -t "$IMAGE" "$CTX" >"$WORK/build.log" 2>&1 || { tail -20 "$WORK/build.log"; fail "podman build"; }
NEW_ID=$(pm image inspect --format '{{.Id}}' "$IMAGE")
if [ -n "$OLD_ID" ] && [ "$OLD_ID" != "$NEW_ID" ]; then
    pm rmi "$OLD_ID" >/dev/null 2>&1 || true    # the untagged image this one replaces
fi
SIZE=$(pm image inspect --format '{{.Size}}' "$IMAGE")
echo "    $IMAGE: $SIZE bytes ($(pm image inspect --format '{{len .RootFS.Layers}}' "$IMAGE") layers," \
    "id ${NEW_ID:0:12}); busybox $(stat -c %s /bin/busybox) bytes, programs" \
    "$(du -cb "$CTX"/bin/* | tail -1 | cut -f1) bytes"
# Every image: line of the manifests names this image and version.
wrong=$(grep -h 'image:' "$PROJ"/deploy/k8s/*.yaml | grep -v "image: mass-connect:$VERSION\$" || true)
[ -z "$wrong" ] || fail "deploy/k8s names another image than mass-connect:$VERSION: $wrong"
grep -q "newTag: $VERSION\$" "$PROJ/deploy/k8s/kustomization.yaml" || fail "kustomization.yaml's newTag is not $VERSION"
echo "    deploy/k8s/*.yaml all run mass-connect:$VERSION"
step_done
if [ "$BUILD_ONLY" = 1 ]; then
    echo "image-test: built $IMAGE ($SIZE bytes) in $((SECONDS - T0)) s"
    exit 0
fi

# ------------------------------------------------------------------ 4
step "4a. resolve.sh in the image: the server pod's name from /etc/hosts"
# The pod's volumes: the ConfigMap (its three scripts and a config of this
# test's), the runtime emptyDir and the reports volume, owned by the pods' user.
CM=$WORK/configmap RT=$WORK/runtime REPORTS=$WORK/reports
mkdir -p "$CM" "$RT" "$REPORTS"
# Each script is a block scalar of configmap.yaml's data: the lines after
# `  NAME: |`, indented four, up to the next line indented two.
for s in resolve.sh run.sh verify.sh; do
    awk -v key="$s" '$0 == "  " key ": |" { on = 1; next }
        on && /^  [^ ]/ { exit }
        on { sub(/^    /, ""); print }' "$PROJ/deploy/k8s/configmap.yaml" >"$CM/$s"
    { [ -s "$CM/$s" ] && sh -n "$CM/$s"; } || fail "cannot take $s from deploy/k8s/configmap.yaml"
done
PORTS=$(mc_free_ports 28620 28699)
case "$PORTS" in *";"*) ;; *) fail "no two free ports in 28620-28699 on 127.0.0.1" ;; esac
# The ConfigMap's config shape, at a size for one host: 2 servers x 2 clients.
cat >"$CM/config.json" <<EOF
{
    "server_ip_list": "@SERVER_IPS@",
    "server_port_list": "$PORTS",
    "client_num_per_host": 2,
    "update_intervals": 20,
    "ops_token": "@OPS_TOKEN@"
}
EOF
chmod 755 "$CM"; chmod 644 "$CM"/*
chown 65532:65532 "$RT" "$REPORTS"
TOKEN=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
POD=(--user 65532:65532 --read-only --cap-drop all --security-opt no-new-privileges --ulimit host
     -v "$CM:/etc/mass-connect:ro" -v "$RT:/run/mass-connect")
timeout 60 podman --runtime runc run --rm --name "$NAME_PREFIX-resolve" --network none "${POD[@]}" \
    --add-host mass-connect-server-0.mass-connect-server:127.0.0.1 \
    -e SERVER_PODS=1 -e OPS_TOKEN="$TOKEN" "$IMAGE" sh /etc/mass-connect/resolve.sh 2>&1 | sed 's/^/    /'
[ "${PIPESTATUS[0]}" -eq 0 ] || fail "resolve.sh exited with status ${PIPESTATUS[0]}"
got=$("$HOST_OMCLIENT" config --config "$RT/config.json" --json | python3 -c \
    'import json, sys; c = json.load(sys.stdin); print(";".join(c["server_ip_list"]))')
[ "$got" = 127.0.0.1 ] || fail "resolve.sh wrote server_ip_list '$got', not 127.0.0.1"
grep -q "\"ops_token\": \"$TOKEN\"" "$RT/config.json" || fail "resolve.sh did not write the token"
[ "$(stat -c '%a %u' "$RT/config.json")" = "600 65532" ] || fail "config.json is $(stat -c '%a %u' "$RT/config.json"), not mode 600 of user 65532"
echo "    config.json: server_ip_list 127.0.0.1, the token, mode 600, user 65532; it loads"
step_done

step "4b. run.sh in the image: a server pod's run on 127.0.0.1, reached from the host"
timeout 120 podman --runtime runc run --rm --name "$NAME_PREFIX-run" --network host "${POD[@]}" \
    -v "$REPORTS:/reports" -e RUN=ci -e DURATION=8s -e POD_IP=127.0.0.1 -e ROLE=server -e JOB_COMPLETION_INDEX=0 \
    "$IMAGE" sh /etc/mass-connect/run.sh >"$WORK/run.out" 2>&1 &
RUN_PID=$!
# Ready once every server answers omclient (exit 0); at most 60 s.
ready=0
for _ in $(seq 1 120); do
    if "$HOST_OMCLIENT" servers --config "$RT/config.json" >"$WORK/servers.out" 2>&1; then ready=1; break; fi
    kill -0 "$RUN_PID" 2>/dev/null || break
    sleep 0.5
done
[ "$ready" = 1 ] || { cat "$WORK/servers.out" "$WORK/run.out" >&2; fail "the servers in the container did not answer within 60 s"; }
sed 's/^/    host omclient servers: /' "$WORK/servers.out"
# Updates come once startup has started its clients and they have linked:
# stats until both servers count some, bounded like the wait above.
linked=0
for _ in $(seq 1 40); do
    "$HOST_OMCLIENT" stats --config "$RT/config.json" >"$WORK/stats.out" 2>&1 || true
    # The totals line, `total (2 up)  LINKS  UPDATES ...`: both servers up
    # and counting the clients' updates.
    if awk '/^total \(/ { found = ($2 == "(2" && $5 > 0) } END { exit !found }' "$WORK/stats.out"; then
        linked=1; break
    fi
    kill -0 "$RUN_PID" 2>/dev/null || break
    sleep 0.5
done
sed 's/^/    host omclient stats: /' "$WORK/stats.out"
[ "$linked" = 1 ] || fail "the servers counted no update from the clients within 20 s"
set +e
wait "$RUN_PID"
rc=$?
set -e
RUN_PID=""
sed 's/^/    run.sh: /' "$WORK/run.out" | grep -E 'run.sh: (PASS|FAIL|INCOMPLETE|run:)|throughput|updates  |verify  ' || true
[ "$rc" -eq 0 ] || { tail -30 "$WORK/run.out" >&2; fail "run.sh exited with status $rc (124: timed out)"; }
[ "$(cat "$REPORTS/ci/server-0.status")" = 0 ] || fail "server-0.status is not 0"
[ -s "$REPORTS/ci/server-0.json" ] || fail "no report at /reports/ci/server-0.json"
step_done

step "4c. verify.sh in the image: the merged verdict"
timeout 60 podman --runtime runc run --rm --name "$NAME_PREFIX-verify" --network none "${POD[@]}" \
    -v "$REPORTS:/reports:ro" -e RUN=ci -e SERVER_PODS=1 -e CLIENT_PODS=0 -e VERIFY_WAIT_S=10 \
    "$IMAGE" sh /etc/mass-connect/verify.sh >"$WORK/verify.out" 2>&1 || { cat "$WORK/verify.out" >&2; fail "verify.sh"; }
sed 's/^/    /' "$WORK/verify.out"
tail -1 "$WORK/verify.out" | grep -qx 'verify: PASS' || fail "verify.sh did not end with verify: PASS"
step_done

step "4d. the README's quick start in the image: a one-line run with nothing but the programs"
# As a user with only the release files would run it: no config file,
# the built-in defaults (100 clients x 3 servers on 127.0.0.1:18677-18679,
# free while CI runs its steps one at a time), 5 s instead of 30.
timeout 120 podman --runtime runc run --rm --name "$NAME_PREFIX-oneline" --network host \
    --user 65532:65532 --cap-drop all --security-opt no-new-privileges --ulimit host \
    "$IMAGE" /usr/local/bin/startup -i 20ms -d 5s >"$WORK/oneline.out" 2>&1 \
    || { tail -20 "$WORK/oneline.out" >&2; fail "the one-line run in the image"; }
grep -E '^(PASS|  (config|layout|throughput|verify) )' "$WORK/oneline.out" | sed 's/^/    /'
head -1 "$WORK/oneline.out" | grep -qx PASS || grep -qx PASS "$WORK/oneline.out" || fail "the one-line run did not PASS"
step_done

echo "image-test: OK in $((SECONDS - T0)) s: $IMAGE ($SIZE bytes) built FROM scratch; resolve.sh, run.sh, verify.sh and the README's one-line run ran in it"
