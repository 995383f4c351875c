#!/usr/bin/env bash
# make docker-test: build the Dockerfile for real and check the image from outside the container.
#
#   docker/docker-test.sh             everything below, in order (what `make docker-test` runs)
#   docker/docker-test.sh --preflight say in one line whether this machine can run it (exit 0: yes, 1: no)
#
# 1. tools: docker.io / debootstrap / docker-compose from apt when they are missing and apt-get is there
# 2. daemon: uses a running dockerd; else starts one (--bridge=none --iptables=false) and stops only that one
# 3. base image: local/debian:bookworm from debootstrap (Debian's package registry), built once and cached
# 4. docker build --network host (BASE_IMAGE=local/debian:bookworm), timed; the image size is printed
# 5. docker/check_image.py: runs the image with --network host on a free 127.0.0.1 port and checks it
# 6. deploy/: every file validated by a tool (docker/validate_deploy.py; compose config, Kubernetes schemas)
#
# Network: host networking only. No bridge, no iptables; the container is reached on 127.0.0.1.
# Environment: BASE_IMAGE (default local/debian:bookworm), IMAGE (toolproxy:docker-test), JOBS (compile jobs,
# default nproc), DEBIAN_MIRROR, DOCKER_DATA_ROOT (for a dockerd started here), KEEP_DAEMON=1 (leave it running).
set -euo pipefail
cd "$(dirname "$0")/.."

BASE_IMAGE=${BASE_IMAGE:-local/debian:bookworm}
IMAGE=${IMAGE:-toolproxy:docker-test}
JOBS=${JOBS:-$(nproc)}
DEBIAN_MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
DOCKER_DATA_ROOT=${DOCKER_DATA_ROOT:-/var/lib/docker}
DOCKERD_PIDFILE=${DOCKERD_PIDFILE:-/var/run/docker.pid}
STATE=${TMPDIR:-/tmp}/toolproxy-docker-test
mkdir -p "$STATE"

say() { printf 'docker-test: %s\n' "$*"; }
die() { printf 'docker-test: FAIL: %s\n' "$*" >&2; exit 1; }
have() { command -v "$1" >/dev/null 2>&1; }
daemon_up() { docker info >/dev/null 2>&1; }

preflight() {  # one line: why this machine cannot run docker-test (nothing printed to stdout: it can)
    if have docker && daemon_up; then return 0; fi
    [ "$(id -u)" = 0 ] || { echo "not root and no reachable docker daemon"; return 1; }
    have dockerd || have apt-get || { echo "no dockerd and no apt-get to install docker.io"; return 1; }
    [ -e /sys/fs/cgroup ] || { echo "no cgroup filesystem for dockerd"; return 1; }
    return 0
}

if [ "${1:-}" = --preflight ]; then
    if why=$(preflight); then echo "docker-test can run here"; exit 0; fi
    echo "$why"; exit 1
fi

apt_install() {  # apt_install PKG...: quietly, updating the lists only when the first try fails
    have apt-get || die "$* missing and no apt-get to install it"
    say "installing $* (apt-get)"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@" >"$STATE/apt.log" 2>&1 \
        || { apt-get update -q >>"$STATE/apt.log" 2>&1 \
             && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@" >>"$STATE/apt.log" 2>&1; } \
        || { tail -5 "$STATE/apt.log" >&2; die "apt-get install $* failed"; }
}

# --- 1. tools
why=$(preflight) || die "cannot run here: $why"
have docker && have dockerd || apt_install docker.io

# --- 2. daemon
STARTED_PID=
stop_daemon() {
    [ -n "$STARTED_PID" ] || return 0
    if [ "${KEEP_DAEMON:-0}" = 1 ]; then say "leaving dockerd $STARTED_PID running (KEEP_DAEMON=1)"; return 0; fi
    say "stopping the dockerd started here (pid $STARTED_PID)"
    kill -TERM "$STARTED_PID" 2>/dev/null || true
    for _ in $(seq 1 60); do kill -0 "$STARTED_PID" 2>/dev/null || return 0; sleep 0.5; done
    say "dockerd $STARTED_PID still running after 30 s"
}
trap stop_daemon EXIT
if daemon_up; then
    say "using the running docker daemon"
else
    if [ -s "$DOCKERD_PIDFILE" ] && kill -0 "$(cat "$DOCKERD_PIDFILE")" 2>/dev/null; then
        die "dockerd $(cat "$DOCKERD_PIDFILE") (pidfile $DOCKERD_PIDFILE) is running but does not answer; not starting a second one on it"
    fi
    rm -f "$DOCKERD_PIDFILE"
    say "starting dockerd (--bridge=none --iptables=false, data root $DOCKER_DATA_ROOT, log $STATE/dockerd.log)"
    dockerd --bridge=none --iptables=false --ip6tables=false --data-root "$DOCKER_DATA_ROOT" \
        --pidfile "$DOCKERD_PIDFILE" >"$STATE/dockerd.log" 2>&1 &
    STARTED_PID=$!
    for _ in $(seq 1 120); do
        daemon_up && break
        kill -0 "$STARTED_PID" 2>/dev/null || { tail -5 "$STATE/dockerd.log" >&2; die "dockerd exited"; }
        sleep 0.5
    done
    daemon_up || { tail -5 "$STATE/dockerd.log" >&2; die "dockerd did not answer within 60 s"; }
fi

# --- 3. base image (built once; `docker image rm local/debian:bookworm` to rebuild it)
build_local_base() {  # debootstrap a minimal Debian into a temp dir and import it as $BASE_IMAGE
    local suite=${BASE_IMAGE##*:} root
    have debootstrap || apt_install debootstrap
    root=$(mktemp -d "$STATE/rootfs.XXXXXX")
    say "debootstrap --variant=minbase $suite from $DEBIAN_MIRROR (log $STATE/debootstrap.log)"
    debootstrap --variant=minbase "$suite" "$root" "$DEBIAN_MIRROR" >"$STATE/debootstrap.log" 2>&1 \
        || { tail -5 "$STATE/debootstrap.log" >&2; rm -rf "$root"; die "debootstrap failed"; }
    printf 'deb %s %s main\ndeb %s %s-updates main\ndeb %s-security %s-security main\n' \
        "$DEBIAN_MIRROR" "$suite" "$DEBIAN_MIRROR" "$suite" "$DEBIAN_MIRROR" "$suite" >"$root/etc/apt/sources.list"
    # extra CAs this machine trusts (e.g. an egress proxy's): the image's apt/pip then trust them too
    if compgen -G '/usr/local/share/ca-certificates/*.crt' >/dev/null; then
        mkdir -p "$root/usr/local/share/ca-certificates"
        cp /usr/local/share/ca-certificates/*.crt "$root/usr/local/share/ca-certificates/"
    fi
    rm -rf "$root"/var/cache/apt/*.bin "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
    tar -C "$root" -c . | docker import -c 'CMD ["/bin/bash"]' - "$BASE_IMAGE" >/dev/null
    rm -rf "$root"
}
if docker image inspect "$BASE_IMAGE" >/dev/null 2>&1; then
    say "base image $BASE_IMAGE: cached"
elif [[ $BASE_IMAGE == local/debian:* ]]; then
    t0=$SECONDS; build_local_base; say "base image $BASE_IMAGE built in $((SECONDS - t0)) s"
else
    say "base image $BASE_IMAGE: docker build pulls it"
fi

# --- 4. build
say "docker build --network host --build-arg BASE_IMAGE=$BASE_IMAGE -t $IMAGE . (log $STATE/build.log)"
t0=$SECONDS
docker build --network host --build-arg BASE_IMAGE="$BASE_IMAGE" --build-arg CMAKE_BUILD_PARALLEL_LEVEL="$JOBS" \
    -t "$IMAGE" . >"$STATE/build.log" 2>&1 \
    || { tail -20 "$STATE/build.log" >&2; die "docker build failed after $((SECONDS - t0)) s (log $STATE/build.log)"; }
size=$(docker image inspect -f '{{.Size}}' "$IMAGE")
say "built $IMAGE in $((SECONDS - t0)) s; image size $((size / 1000000)) MB"

# --- 5. the image, checked from outside
python3 docker/check_image.py --image "$IMAGE" || die "image checks failed"

# --- 6. deploy/: docker-compose (Debian's, when there is no compose plugin) and kubernetes-validate (PyPI, its
# schemas are in the wheel) in a venv kept in $STATE
docker compose version >/dev/null 2>&1 || have docker-compose || apt_install docker-compose
venv=$STATE/deploy-venv
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import kubernetes_validate, yaml' 2>/dev/null; then
    say "venv for the manifest checks: $venv (kubernetes-validate, PyYAML)"
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q 'kubernetes-validate==1.37.0' 'PyYAML>=6' >"$STATE/pip.log" 2>&1 \
        || { tail -5 "$STATE/pip.log" >&2; die "pip install kubernetes-validate failed"; }
fi
"$venv/bin/python" docker/validate_deploy.py --image "$IMAGE" || die "deploy/ validation failed"
say "PASS"
