#!/bin/sh
# Prepares this machine to run the container files (make compose, make swarm,
# tests/containers), saying what it does; each step does nothing when its part
# is already there:
#
#   docker-env.sh engine        docker.io from the OS packages if absent, and
#                               dockerd started in the background if not running
#                               (its pid in $STATE/dockerd.pid: stop-engine stops
#                               only a daemon this script started)
#   docker-env.sh compose       the compose v2 plugin, if `docker compose` is absent
#   docker-env.sh env-file      .env with random secrets, if there is none, and
#                               .secrets/redis_password (CHAT_REDIS_PASSWORD_FILE)
#                               with a random password, if there is none
#   docker-env.sh redis-secret  only the latter
#   docker-env.sh standins      local stand-ins for the base images the container
#                               files name, when those cannot be pulled
#   docker-env.sh all           engine, compose, env-file, standins, in that order
#   docker-env.sh stop-engine   stop dockerd if `engine` started it
#
# Stand-ins: where no image registry is reachable, the images named in
# docker-compose.yml, docker/Dockerfile and nginx/Dockerfile
# (python:3.11-slim-bookworm, postgres:17, redis:7-alpine, nginx:1.28-alpine,
# and prom/prometheus:v2.53.2 for the `monitoring` profile) are built here
# from the OS
# package archive (docker/standins/) and tagged with exactly those names. They
# are stand-ins only: on a machine with a registry nothing is built and the
# real images are used, unchanged files and all.
set -eu

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
STATE="${CHAT_DOCKER_STATE:-/var/tmp/chat-docker}"
STANDINS="$ROOT/docker/standins"
# Every image the container files name, and the stand-in file that builds it.
IMAGES="python:3.11-slim-bookworm=python postgres:17=postgres redis:7-alpine=redis nginx:1.28-alpine=nginx prom/prometheus:v2.53.2=prometheus"
BASE_IMAGE="chat-standin/debian:bookworm"

say() { echo "docker-env: $*"; }
have() { command -v "$1" >/dev/null 2>&1; }
need_root() {
    [ "$(id -u)" = 0 ] || { say "needs root to $*" >&2; exit 1; }
}

# The Debian mirror apt is configured with (deb822 or one-line sources).
apt_mirror() {
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -f "$f" ] || continue
        awk '/^URIs:/ {u=$2} /^Suites:/ && / bookworm( |$)/ {print u; exit}' "$f"
    done | head -n 1 | grep . && return
    grep -hE '^deb [^ ]+ bookworm ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list \
        2>/dev/null | awk '{print $2; exit}' | grep . && return
    echo "http://deb.debian.org/debian"
}

engine_running() { docker info >/dev/null 2>&1; }

cmd_engine() {
    if ! have dockerd; then
        need_root "install docker.io"
        say "the Docker engine is missing: installing docker.io from the OS packages"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
            docker.io >/dev/null
    fi
    if engine_running; then
        return
    fi
    need_root "start dockerd"
    mkdir -p "$STATE"
    say "dockerd is not running: starting it in the background (log $STATE/dockerd.log)"
    # No init system here: a session of its own, so it outlives this shell.
    setsid dockerd >"$STATE/dockerd.log" 2>&1 </dev/null &
    echo $! >"$STATE/dockerd.pid"
    i=0
    until engine_running; do
        i=$((i + 1))
        if [ $i -gt 60 ]; then
            say "dockerd did not come up in 30 s; see $STATE/dockerd.log" >&2
            tail -n 20 "$STATE/dockerd.log" >&2
            exit 1
        fi
        sleep 0.5
    done
}

cmd_stop_engine() {
    pidfile="$STATE/dockerd.pid"
    [ -f "$pidfile" ] || return 0
    pid="$(cat "$pidfile")"
    if kill -0 "$pid" 2>/dev/null; then
        say "stopping the dockerd this script started (pid $pid)"
        kill "$pid"
        i=0
        while kill -0 "$pid" 2>/dev/null && [ $i -lt 60 ]; do i=$((i + 1)); sleep 0.5; done
    fi
    rm -f "$pidfile"
}

# Debian's own package of the compose v2 plugin is in trixie and later; on
# bookworm it comes from the development suite (one static binary, libc6 only).
cmd_compose() {
    if docker compose version >/dev/null 2>&1; then
        return
    fi
    need_root "install the compose plugin"
    if apt-cache show docker-compose 2>/dev/null | grep -q '^Version: 2\.'; then
        say "the compose v2 plugin is missing: installing docker-compose from the OS packages"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
            docker-compose >/dev/null
        return
    fi
    say "the compose v2 plugin is missing and this release's docker-compose is v1:" \
        "installing docker-compose from Debian's development suite (sid)"
    tmp="$(mktemp -d)"
    mkdir -p "$tmp/lists/partial" "$tmp/cache/archives/partial"
    echo "deb [check-valid-until=no] $(apt_mirror) sid main" >"$tmp/sources.list"
    opts="-o Dir::Etc::SourceList=$tmp/sources.list -o Dir::Etc::SourceParts=/dev/null \
          -o Dir::State::Lists=$tmp/lists -o Dir::Cache=$tmp/cache -o APT::Sandbox::User=root"
    # shellcheck disable=SC2086
    apt-get $opts update -qq
    # shellcheck disable=SC2086
    (cd "$tmp" && apt-get $opts download -qq docker-compose/sid)
    dpkg -i "$tmp"/docker-compose_*.deb >/dev/null
    rm -rf "$tmp"
    docker compose version
}

# Redis's password, a file compose hands to Redis and the app as a secret.
cmd_redis_secret() {
    file="${CHAT_REDIS_PASSWORD_FILE:-$ROOT/.secrets/redis_password}"
    [ -s "$file" ] && return
    say "no Redis password in $file: writing a random one there"
    mkdir -p "$(dirname "$file")"
    chmod 700 "$(dirname "$file")"
    # Readable by the containers' users (Redis's, the app's): the directory
    # keeps it from the host's other users.
    (umask 022 && od -An -N24 -tx1 /dev/urandom | tr -d ' \n' >"$file.tmp")
    mv "$file.tmp" "$file"
}

cmd_env_file() {
    if [ -f "$ROOT/.env" ] || [ -n "${COMPOSE_ENV_FILES:-}" ]; then
        return  # the operator's .env, or the files named in COMPOSE_ENV_FILES
    fi
    say "no .env: writing one from .env.example with random SECRET_KEY and POSTGRES_PASSWORD"
    secret="$(od -An -N32 -tx1 /dev/urandom | tr -d ' \n')"
    password="$(od -An -N24 -tx1 /dev/urandom | tr -d ' \n')"
    sed -e "s/^SECRET_KEY=.*/SECRET_KEY=$secret/" \
        -e "s/^POSTGRES_PASSWORD=.*/POSTGRES_PASSWORD=$password/" \
        "$ROOT/.env.example" >"$ROOT/.env.tmp"
    chmod 600 "$ROOT/.env.tmp"
    mv "$ROOT/.env.tmp" "$ROOT/.env"
}

image_present() { docker image inspect "$1" >/dev/null 2>&1; }

# A minimal Debian root filesystem from the configured mirror, imported once.
build_base() {
    image_present "$BASE_IMAGE" && return
    need_root "debootstrap a root filesystem"
    if ! have debootstrap; then
        say "installing debootstrap from the OS packages"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
            debootstrap >/dev/null
    fi
    mirror="$(apt_mirror)"
    rootfs="$(mktemp -d /var/tmp/chat-rootfs.XXXXXX)"
    say "debootstrapping Debian bookworm (minbase) from $mirror into $rootfs (a few minutes, once)"
    debootstrap --variant=minbase bookworm "$rootfs" "$mirror" >"$rootfs.log" 2>&1 || {
        tail -n 20 "$rootfs.log" >&2; exit 1; }
    rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
    say "importing it as $BASE_IMAGE"
    tar -C "$rootfs" -c . | docker import --change 'CMD ["/bin/bash"]' - "$BASE_IMAGE" >/dev/null
    rm -rf "$rootfs" "$rootfs.log"
}

# The build context of a stand-in: its files plus the host's trust settings,
# so that apt and pip inside builds work wherever they work on the host.
standin_context() {
    ctx="$(mktemp -d)"
    cp "$STANDINS"/* "$ctx"/
    mkdir -p "$ctx/host-ca"
    cp /etc/ssl/certs/ca-certificates.crt "$ctx/host-ca/bundle.pem"
    for crt in /usr/local/share/ca-certificates/*.crt; do
        [ -f "$crt" ] && cp "$crt" "$ctx/host-ca/"
    done
    # pip: only the settings that make sense inside an image (the host's local
    # wheel folders do not exist there).
    {
        echo "[global]"
        echo "cert = /etc/ssl/certs/ca-certificates.crt"
        echo "timeout = ${PIP_DEFAULT_TIMEOUT:-60}"
        index="$(pip3 config get global.index-url 2>/dev/null || true)"
        case "$index" in http*) echo "index-url = $index" ;; esac
    } >"$ctx/host-ca/pip.conf"
    echo "$ctx"
}

# A stand-in is rebuilt when docker/standins/ changed since it was built; an
# image without the stand-in label (a real one) is never touched.
standin_hash() { cat "$STANDINS"/* | sha256sum | cut -c1-16; }
standin_current() {
    label="$(docker image inspect -f '{{index .Config.Labels "chat.standin"}}' "$1" 2>/dev/null)" \
        || return 1
    [ "$label" = "<no value>" ] || [ -z "$label" ] || [ "$label" = "$(standin_hash)" ]
}

cmd_standins() {
    missing=""
    for pair in $IMAGES; do
        standin_current "${pair%%=*}" || missing="$missing $pair"
    done
    [ -n "$missing" ] || return 0
    for pair in $missing; do
        name="${pair%%=*}"
        if ! image_present "$name" && docker pull -q "$name" >/dev/null 2>&1; then
            say "pulled $name"
        else
            still="${still:-} $pair"
        fi
    done
    [ -n "${still:-}" ] || return 0
    say "no registry reachable (or stand-in changed) for:$(for p in $still; do printf ' %s' "${p%%=*}"; done)"
    say "building LOCAL STAND-INS from the OS package archive (docker/standins/)."
    say "They stand in for the real images only on a machine without a registry;"
    say "where one is reachable, the real images are pulled and used unchanged."
    build_base
    ctx="$(standin_context)"
    proxy_args=""
    for var in http_proxy https_proxy no_proxy HTTP_PROXY HTTPS_PROXY NO_PROXY; do
        eval "value=\${$var:-}"
        [ -n "$value" ] && proxy_args="$proxy_args --build-arg $var=$value"
    done
    for pair in $still; do
        name="${pair%%=*}"
        say "building stand-in $name (docker/standins/${pair#*=}.Dockerfile)"
        # shellcheck disable=SC2086
        docker build -q $proxy_args --build-arg "BASE=$BASE_IMAGE" \
            --build-arg "MIRROR=$(apt_mirror)" \
            --label "org.opencontainers.image.description=LOCAL STAND-IN for $name, built from Debian packages" \
            --label "chat.standin=$(standin_hash)" \
            -f "$ctx/${pair#*=}.Dockerfile" -t "$name" "$ctx" >"$ctx/build.log" 2>&1 \
            || { tail -n 30 "$ctx/build.log" >&2; exit 1; }
    done
    rm -rf "$ctx"
}

case "${1:-}" in
    engine) cmd_engine ;;
    compose) cmd_compose ;;
    env-file) cmd_env_file; cmd_redis_secret ;;
    redis-secret) cmd_redis_secret ;;
    base) build_base ;;
    standins) cmd_standins ;;
    stop-engine) cmd_stop_engine ;;
    all) cmd_engine; cmd_compose; cmd_env_file; cmd_redis_secret; cmd_standins ;;
    *) sed -n '2,18p' "$0" >&2; exit 2 ;;
esac
