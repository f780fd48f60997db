#!/bin/sh
# The chat service on a Docker Swarm here (docs/swarm.md):
#   swarm.sh up     engine and images ready (scripts/docker-env.sh), a swarm
#                   initialised if this engine is in none (remembered, so that
#                   `down` leaves it again), the app and nginx images built,
#                   the secrets created from .env, the stack deployed and
#                   waited for. NODES=3 (more than 1): on a swarm of that many
#                   Docker-in-Docker nodes instead (scripts/swarm-nodes.sh),
#                   with deploy/swarm/placement.yml.
#   swarm.sh down   the stack, its secrets, volumes and networks removed; the
#                   swarm left if `up` created it; the nodes removed, if any.
# Settings: STACK (chat), SCALE (4 api replicas), CHAT_PORT (HTTPS, 8443),
# CHAT_HTTP_PORT (redirects to HTTPS, 8080), REDIS_SENTINEL (set: with
# deploy/swarm/sentinel.yml), STICKY (ip_hash or cookie), SECRET_KEY /
# POSTGRES_PASSWORD from the environment or else from .env, REDIS_PASSWORD from
# the environment or else the file CHAT_REDIS_PASSWORD_FILE
# (.secrets/redis_password), made with a random one when missing;
# CHAT_OVERLAY_ENCRYPTION (auto: the overlay networks encrypted when this
# kernel can, on, off).
set -eu
cd "$(dirname "$0")/.."
# This machine's engine, even in a shell where DOCKER_HOST names a node's.
case "${DOCKER_HOST:-}" in */swarm-nodes/*) unset DOCKER_HOST ;; esac
STACK="${STACK:-chat}"
SCALE="${SCALE:-4}"
CHAT_PORT="${CHAT_PORT:-8443}"
CHAT_HTTP_PORT="${CHAT_HTTP_PORT:-8080}"
CHAT_IMAGE="${CHAT_IMAGE:-chat-app:latest}"
CHAT_NGINX_IMAGE="${CHAT_NGINX_IMAGE:-chat-nginx:latest}"
STATE="${CHAT_DOCKER_STATE:-/var/tmp/chat-docker}"
STACK_FILE=deploy/swarm/docker-stack.yml
ENCRYPTION_FILE=deploy/swarm/encrypted-networks.yml
PLACEMENT_FILE=deploy/swarm/placement.yml
NODES="${NODES:-1}"
export STACK SCALE CHAT_PORT CHAT_HTTP_PORT CHAT_IMAGE CHAT_NGINX_IMAGE NODES

say() { echo "swarm: $*"; }

# Encrypted overlays are IPsec ESP tunnels with AES-GCM (rfc4106) between the
# nodes: the kernel needs ESP and GCM, built in or as modules.
kernel_config() { zcat /proc/config.gz 2>/dev/null || cat "/boot/config-$(uname -r)" 2>/dev/null; }
kernel_has() {  # kernel_has CONFIG_NAME module
    [ -d "/sys/module/$2" ] || modprobe -n -q "$2" 2>/dev/null \
        || kernel_config | grep -q "^$1=[ym]"
}
overlay_encryption() {
    case "${CHAT_OVERLAY_ENCRYPTION:-auto}" in
        on) return 0 ;;
        off) return 1 ;;
    esac
    kernel_has CONFIG_INET_ESP esp4 && kernel_has CONFIG_CRYPTO_GCM gcm
}
swarm_state() { docker info --format '{{.Swarm.LocalNodeState}}'; }
from_env_file() {
    [ -f .env ] && sed -n "s/^$1=//p" .env | tail -n 1
}

up() {
    sh scripts/docker-env.sh engine
    [ -n "${SECRET_KEY:-}${COMPOSE_ENV_FILES:-}" ] || sh scripts/docker-env.sh env-file
    sh scripts/docker-env.sh standins
    if [ "$NODES" -le 1 ] && sh scripts/swarm-nodes.sh host >/dev/null; then
        say "a swarm of several nodes is up here (make swarm-down first)" >&2
        exit 1
    fi
    if [ "$NODES" -le 1 ] && [ "$(swarm_state)" != active ]; then
        say "this engine is in no swarm: initialising a single-node one (on loopback)"
        docker swarm init --advertise-addr 127.0.0.1 --listen-addr 127.0.0.1:2377 >/dev/null
        mkdir -p "$STATE"
        touch "$STATE/swarm-initialised"
    fi
    # Built the way compose builds it (BuildKit, the same layer cache).
    say "building $CHAT_IMAGE (docker/Dockerfile, through docker-compose.yml's build)"
    SECRET_KEY=unused-by-build POSTGRES_PASSWORD=unused-by-build COMPOSE_ENV_FILES=/dev/null \
        COMPOSE_PROJECT_NAME=chat-swarm-build docker compose build --quiet api
    docker tag chat-swarm-build-api "$CHAT_IMAGE"
    say "building $CHAT_NGINX_IMAGE (nginx/Dockerfile)"
    docker build --quiet -t "$CHAT_NGINX_IMAGE" nginx >/dev/null
    files="--compose-file $STACK_FILE"
    if [ "$NODES" -gt 1 ]; then
        # Several nodes: Docker-in-Docker containers here, their swarm driven
        # from now on through node 1's engine (a manager).
        say "a swarm of $NODES nodes (scripts/swarm-nodes.sh)"
        sh scripts/swarm-nodes.sh up
        DOCKER_HOST="$(sh scripts/swarm-nodes.sh host)"
        export DOCKER_HOST
        files="$files --compose-file $PLACEMENT_FILE"
    fi
    secret_key="${SECRET_KEY:-$(from_env_file SECRET_KEY)}"
    password="${POSTGRES_PASSWORD:-$(from_env_file POSTGRES_PASSWORD)}"
    [ -n "$secret_key" ] && [ -n "$password" ] || {
        say "SECRET_KEY and POSTGRES_PASSWORD must be set (environment or .env)" >&2; exit 1; }
    redis_password="${REDIS_PASSWORD:-}"
    if [ -z "$redis_password" ]; then
        sh scripts/docker-env.sh redis-secret
        redis_password="$(cat "${CHAT_REDIS_PASSWORD_FILE:-.secrets/redis_password}")"
    fi
    for pair in "secret_key=$secret_key" "postgres_password=$password" \
        "redis_password=$redis_password"; do
        name="${STACK}_${pair%%=*}"
        if ! docker secret inspect "$name" >/dev/null 2>&1; then
            printf %s "${pair#*=}" | docker secret create "$name" - >/dev/null
            say "secret $name created"
        fi
    done
    if overlay_encryption; then
        files="$files --compose-file $ENCRYPTION_FILE"
        say "overlay networks encrypted (IPsec)"
    else
        say "overlay networks NOT encrypted: this kernel has no IPsec ESP with AES-GCM" \
            "(CONFIG_INET_ESP, CONFIG_CRYPTO_GCM); CHAT_OVERLAY_ENCRYPTION=on forces it"
    fi
    # REDIS_SENTINEL=1: Redis watched by three sentinels (deploy/swarm/sentinel.yml).
    if [ -n "${REDIS_SENTINEL:-}" ]; then
        files="$files --compose-file deploy/swarm/sentinel.yml"
        say "with Redis Sentinel: a replica and three sentinels"
    fi
    say "deploying stack $STACK: $SCALE api replicas, nginx HTTPS on port $CHAT_PORT"
    [ "$NODES" -le 1 ] || say "the swarm's CLI: DOCKER_HOST=$DOCKER_HOST docker ..."
    # shellcheck disable=SC2086
    docker stack deploy --detach=true $files "$STACK" >/dev/null
    wait_ready
    say "chat: https://localhost:$CHAT_PORT/  (docker stack services $STACK)"
}

# Every service at its replica count, and nginx answering through the port.
wait_ready() {
    deadline=$(($(date +%s) + ${SWARM_WAIT_SECONDS:-300}))
    while :; do
        pending="$(docker stack services "$STACK" --format '{{.Name}} {{.Replicas}}' \
            | awk '{split($2, r, "/"); if (r[1] != r[2]) print $1}')"
        if [ -z "$pending" ] && python3 - "$CHAT_PORT" <<'EOF'
import ssl, sys, urllib.request
# Only whether nginx answers over HTTPS yet: its certificate may be the one it
# made at start, which this readiness probe has no copy of.
unverified = ssl._create_unverified_context()
try:
    url = f"https://127.0.0.1:{sys.argv[1]}/healthz"
    ok = urllib.request.urlopen(url, timeout=3, context=unverified).status == 200
except Exception:
    ok = False
sys.exit(0 if ok else 1)
EOF
        then
            return
        fi
        if [ "$(date +%s)" -gt "$deadline" ]; then
            say "not ready in time; waiting for: ${pending:-nginx on $CHAT_PORT}" >&2
            docker stack ps --no-trunc "$STACK" >&2 || true
            exit 1
        fi
        sleep 2
    done
}

down() {
    if ! docker info >/dev/null 2>&1; then
        return
    fi
    if sh scripts/swarm-nodes.sh host >/dev/null; then
        # The stack lives in the nodes' swarm: it goes with them.
        sh scripts/swarm-nodes.sh down
        say "stack $STACK removed with the swarm's nodes"
        return
    fi
    if [ "$(swarm_state)" = active ]; then
        docker stack rm "$STACK" >/dev/null 2>&1 || true
        # Networks and containers go asynchronously: wait for them.
        i=0
        while [ $i -lt 90 ] && { docker ps -aq --filter "label=com.docker.stack.namespace=$STACK" | grep -q . \
            || docker network ls -q --filter "label=com.docker.stack.namespace=$STACK" | grep -q .; }; do
            i=$((i + 1)); sleep 1
        done
        for name in secret_key postgres_password redis_password; do
            docker secret rm "${STACK}_$name" >/dev/null 2>&1 || true
        done
    fi
    docker volume ls -q --filter "label=com.docker.stack.namespace=$STACK" | xargs -r docker volume rm >/dev/null
    if [ -f "$STATE/swarm-initialised" ]; then
        say "leaving the single-node swarm that \`swarm.sh up\` created"
        docker swarm leave --force >/dev/null
        # The bridge `swarm init` made for host-mode ports and overlays.
        docker network rm docker_gwbridge >/dev/null 2>&1 || true
        rm -f "$STATE/swarm-initialised"
    fi
    say "stack $STACK removed"
}

case "${1:-}" in
    up) up ;;
    down) down ;;
    *) sed -n '2,11p' "$0" >&2; exit 2 ;;
esac
