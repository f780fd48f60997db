#!/bin/sh
# Debian packages the bench uses beyond the test ones (scripts/install-system-deps.sh):
# wrk for the nginx ceilings, redis-benchmark (redis-tools) for the Redis one,
# Node.js with npm for the Node peer, and valgrind for the send scenario's
# instruction count. Needs root to install (or does nothing but say so);
# the bench skips a ceiling whose tool is missing.
set -eu

missing=""
have() { command -v "$1" >/dev/null 2>&1; }
have wrk || missing="$missing wrk"
have redis-benchmark || missing="$missing redis-tools"
have node || missing="$missing nodejs"
have npm || missing="$missing npm"
have valgrind || missing="$missing valgrind"

if [ -z "$missing" ]; then
    echo "bench deps: all present"
    exit 0
fi
if [ "$(id -u)" != 0 ]; then
    echo "bench deps: missing:$missing; run as root or install them with apt-get" >&2
    exit 0
fi
echo "bench deps: installing:$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >/dev/null
echo "bench deps: done"
