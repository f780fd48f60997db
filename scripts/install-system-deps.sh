#!/bin/sh
# Installs the Debian packages the tests run for real, when missing:
# PostgreSQL, Redis, nginx, Chromium (with a colour emoji font, so that the
# page's reactions show in the browser tests and screenshots), and Docker
# (docker.io, with debootstrap for the local stand-in images:
# scripts/docker-env.sh), and Prometheus (for promtool). Needs root (or does
# nothing but say so).
set -eu

missing=""
have() { command -v "$1" >/dev/null 2>&1; }
pg_bin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1; }

[ -n "$(pg_bin)" ] || missing="$missing postgresql"
have redis-server || missing="$missing redis-server"
# redis-cli joins the local Redis Cluster (scripts/localservices.py RedisCluster).
have redis-cli || missing="$missing redis-tools"
have nginx || [ -x /usr/sbin/nginx ] || missing="$missing nginx"
have chromium || missing="$missing chromium"
[ -e /usr/share/fonts/truetype/noto/NotoColorEmoji.ttf ] || missing="$missing fonts-noto-color-emoji"
have dockerd || missing="$missing docker.io"
have debootstrap || [ -x /usr/sbin/debootstrap ] || missing="$missing debootstrap"
# ss reads a listening socket's backlog (tests/integration/test_listen_backlog.py).
have ss || [ -x /usr/sbin/ss ] || missing="$missing iproute2"
# promtool checks and unit-tests deploy/prometheus/rules.yml.
have promtool || missing="$missing prometheus"

if [ -z "$missing" ]; then
    echo "system deps: all present"
    exit 0
fi
if [ "$(id -u)" != 0 ]; then
    echo "system deps: missing:$missing; run as root or install them with apt-get" >&2
    exit 1
fi
echo "system deps: installing:$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >/dev/null
# The packages' own services are not used: tests start private instances.
for svc in redis-server nginx postgresql prometheus; do
    if have service; then service "$svc" stop >/dev/null 2>&1 || true; fi
done
echo "system deps: done"
