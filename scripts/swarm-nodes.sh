#!/bin/sh
# A swarm of several Docker engines on this one machine (docs/swarm.md, "A
# swarm of several nodes"): each node is a Docker-in-Docker container
# (deploy/swarm/node/, Debian's docker.io) with its own state volume.
# `make swarm NODES=3` runs it through scripts/swarm.sh; by hand:
#
#   swarm-nodes.sh up      the node image built, NODES node containers started
#                          on a bridge network of their own, joined into one
#                          swarm (SWARM_MANAGERS managers, the rest workers),
#                          labelled, and given the images of what may run on
#                          them
#   swarm-nodes.sh down    every node container, its volume, the network gone
#   swarm-nodes.sh host    the DOCKER_HOST of node 1 (a manager), if the nodes
#                          are up (exit status 1 if not)
#   swarm-nodes.sh load IMAGE NODE...   an image of this engine into nodes
#
# Settings: NODES (3), SWARM_MANAGERS (3 where NODES >= 3, else 1),
# SWARM_HEARTBEAT (the dispatcher heartbeat, 2s), SWARM_NODES_SUBNET (the
# nodes' bridge, 10.210.0.0/24), CHAT_PORT, CHAT_HTTP_PORT, PROMETHEUS_PORT
# (node 1 publishes them on 127.0.0.1 of this machine), CHAT_IMAGE,
# CHAT_NGINX_IMAGE, NODE_STORAGE_DRIVER (overlay2), NODE_DOCKERD_ARGS (further
# dockerd flags; deploy/swarm/node/node-entrypoint.sh), CHAT_DOCKER_STATE.
#
# Each node's engine runs every container with no-new-privileges (its
# /etc/docker/daemon.json, deploy/swarm/node/daemon.json): the stack file
# cannot ask for it, as `docker stack deploy` ignores security_opt.
#
# Roles, by node labels that deploy/swarm/placement.yml pins services to:
# node 1 is the edge (nginx, Prometheus: chat.edge=true) and holds PostgreSQL
# and its volume (chat.db=true); node 2 holds Redis (chat.redis=true); every
# node has chat.zone=<its name>, over which the app replicas are spread. So
# from node 3 on a node runs only app replicas (and perhaps the migrator).
set -eu
cd "$(dirname "$0")/.."
# This machine's engine, even in a shell where DOCKER_HOST names a node's.
case "${DOCKER_HOST:-}" in */swarm-nodes/*) unset DOCKER_HOST ;; esac
NODES="${NODES:-3}"
if [ -z "${SWARM_MANAGERS:-}" ]; then
    if [ "$NODES" -ge 3 ]; then SWARM_MANAGERS=3; else SWARM_MANAGERS=1; fi
fi
SWARM_HEARTBEAT="${SWARM_HEARTBEAT:-2s}"
SUBNET="${SWARM_NODES_SUBNET:-10.210.0.0/24}"
CHAT_PORT="${CHAT_PORT:-8443}"
CHAT_HTTP_PORT="${CHAT_HTTP_PORT:-8080}"
PROMETHEUS_PORT="${PROMETHEUS_PORT:-9090}"
CHAT_IMAGE="${CHAT_IMAGE:-chat-app:latest}"
CHAT_NGINX_IMAGE="${CHAT_NGINX_IMAGE:-chat-nginx:latest}"
STATE="${CHAT_DOCKER_STATE:-/var/tmp/chat-docker}/swarm-nodes"
NODE_IMAGE=chat-swarm-node:latest
NETWORK=chat-swarm-nodes
PREFIX=chat-swarm
LABEL=chat.swarm-node

say() { echo "swarm-nodes: $*"; }
node_host() { echo "unix://$STATE/$1/docker.sock"; }
on() {  # on NODE docker-args...: the docker CLI against that node's engine
    node="$1"
    shift
    DOCKER_HOST="$(node_host "$node")" docker "$@"
}

# The node containers are privileged where this machine's root has every
# capability. Here it lacks CAP_SYS_RESOURCE (its capability bounding set), and
# a privileged container asks for every capability, which runc then cannot give
# ("unable to apply caps: operation not permitted"). So, there, the same by
# hand: every capability root has, no seccomp or AppArmor profile, /proc
# unmasked, every device allowed; node-entrypoint.sh remounts /sys and the
# cgroup hierarchies writable. Either way a cgroup namespace of its own, so
# that the node's containers' cgroups are inside the node's.
all_capabilities() {
    bounding="$(awk '/^CapBnd:/ {print $2}' /proc/self/status)"
    last="$(cat /proc/sys/kernel/cap_last_cap)"
    [ "$((0x$bounding))" -eq "$(((1 << (last + 1)) - 1))" ]
}

build_node_image() {
    base=debian:bookworm
    if ! docker image inspect "$base" >/dev/null 2>&1 && ! docker pull -q "$base" >/dev/null 2>&1; then
        # No registry: the Debian root filesystem the other stand-ins use.
        sh scripts/docker-env.sh base
        base=chat-standin/debian:bookworm
    fi
    say "building $NODE_IMAGE (deploy/swarm/node/Dockerfile, Debian's docker.io, FROM $base)"
    docker build -q --build-arg "BASE=$base" -t "$NODE_IMAGE" deploy/swarm/node >/dev/null
}

start_node() {  # start_node NAME [docker run options]
    name="$1"
    shift
    mkdir -p "$STATE/$name"
    docker volume create --label "$LABEL=$name" "$PREFIX-$name" >/dev/null
    if all_capabilities; then
        set -- --privileged "$@"
    else
        set -- --cap-add ALL --cap-drop SYS_RESOURCE --security-opt seccomp=unconfined \
            --security-opt apparmor=unconfined --security-opt systempaths=unconfined \
            --device-cgroup-rule "a *:* rwm" "$@"
    fi
    docker run -d --name "$PREFIX-$name" --hostname "$name" --label "$LABEL=$name" \
        --network "$NETWORK" --init --cgroupns private \
        --volume "$PREFIX-$name:/var/lib/docker" --volume "$STATE/$name:/run/chat-node" \
        --env NODE_STORAGE_DRIVER --env NODE_DOCKERD_ARGS \
        "$@" "$NODE_IMAGE" >/dev/null
}

wait_engine() {
    i=0
    until on "$1" info >/dev/null 2>&1; do
        i=$((i + 1))
        if [ $i -gt 120 ]; then
            say "the engine of $1 did not come up in 60 s:" >&2
            docker logs --tail 20 "$PREFIX-$1" >&2
            exit 1
        fi
        sleep 0.5
    done
}

node_address() {
    docker inspect -f "{{(index .NetworkSettings.Networks \"$NETWORK\").IPAddress}}" "$PREFIX-$1"
}

# An image of this machine's engine into nodes' engines (no registry here:
# nodes cannot pull either).
load() {
    image="$1"
    shift
    for node in "$@"; do
        if [ "$(on "$node" image inspect -f '{{.Id}}' "$image" 2>/dev/null)" \
            != "$(docker image inspect -f '{{.Id}}' "$image")" ]; then
            docker save "$image" | on "$node" load -q >/dev/null
        fi
    done
}

up() {
    if docker ps -aq --filter "label=$LABEL" | grep -q .; then
        say "nodes are up already (swarm-nodes.sh down first)" >&2
        exit 1
    fi
    build_node_image
    docker network create --driver bridge --subnet "$SUBNET" --label "$LABEL=network" \
        "$NETWORK" >/dev/null
    names=""
    i=1
    while [ $i -le "$NODES" ]; do
        names="$names node-$i"
        i=$((i + 1))
    done
    for name in $names; do
        if [ "$name" = node-1 ]; then
            # The edge: nginx's host-mode ports, mapped out to this machine's loopback.
            start_node "$name" -p "127.0.0.1:$CHAT_PORT:$CHAT_PORT" \
                -p "127.0.0.1:$CHAT_HTTP_PORT:$CHAT_HTTP_PORT" \
                -p "127.0.0.1:$PROMETHEUS_PORT:$PROMETHEUS_PORT"
        else
            start_node "$name"
        fi
    done
    for name in $names; do wait_engine "$name"; done
    say "$NODES engines up ($NODE_IMAGE, storage driver ${NODE_STORAGE_DRIVER:-overlay2})"
    leader_addr="$(node_address node-1)"
    on node-1 swarm init --advertise-addr "$leader_addr" --listen-addr "$leader_addr:2377" \
        --dispatcher-heartbeat "$SWARM_HEARTBEAT" >/dev/null
    manager_token="$(on node-1 swarm join-token -q manager)"
    worker_token="$(on node-1 swarm join-token -q worker)"
    i=1
    for name in $names; do
        if [ "$name" != node-1 ]; then
            if [ $i -le "$SWARM_MANAGERS" ]; then token="$manager_token"; else token="$worker_token"; fi
            on "$name" swarm join --advertise-addr "$(node_address "$name")" \
                --token "$token" "$leader_addr:2377" >/dev/null
        fi
        i=$((i + 1))
    done
    say "swarm: $SWARM_MANAGERS manager(s), $((NODES - SWARM_MANAGERS)) worker(s)," \
        "dispatcher heartbeat $SWARM_HEARTBEAT"
    redis_node=node-2
    [ "$NODES" -ge 2 ] || redis_node=node-1
    for name in $names; do
        labels="--label-add chat.zone=$name"
        [ "$name" = node-1 ] && labels="$labels --label-add chat.edge=true --label-add chat.db=true"
        [ "$name" = "$redis_node" ] && labels="$labels --label-add chat.redis=true"
        # shellcheck disable=SC2086
        on node-1 node update $labels "$name" >/dev/null
    done
    # What may run where: the app everywhere; the pinned services' images on
    # their nodes (Redis's everywhere with Sentinel, whose services are not pinned).
    say "moving images into the nodes (docker save | docker load)"
    # shellcheck disable=SC2086
    load "$CHAT_IMAGE" $names
    load postgres:17 node-1
    load "$CHAT_NGINX_IMAGE" node-1
    load prom/prometheus:v2.53.2 node-1
    if [ -n "${REDIS_SENTINEL:-}" ]; then
        # shellcheck disable=SC2086
        load redis:7-alpine $names
    else
        load redis:7-alpine "$redis_node"
    fi
    on node-1 node ls
}

down() {
    ids="$(docker ps -aq --filter "label=$LABEL")"
    if [ -n "$ids" ]; then
        # shellcheck disable=SC2086
        docker rm -f -v $ids >/dev/null
        say "node containers removed"
    fi
    docker volume ls -q --filter "label=$LABEL" | xargs -r docker volume rm >/dev/null
    docker network rm "$NETWORK" >/dev/null 2>&1 || true
    rm -rf "$STATE"
}

case "${1:-}" in
    up) up ;;
    down) down ;;
    host)
        docker ps -q --filter "label=$LABEL=node-1" | grep -q . && node_host node-1
        ;;
    load)
        shift
        load "$@"
        ;;
    *) sed -n '2,32p' "$0" >&2; exit 2 ;;
esac
