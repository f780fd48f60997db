#!/bin/sh
# As the real image does when started without a config file: reachable from
# the container network, not only from loopback.
set -eu
if [ "${1:-}" = redis-server ]; then
    shift
    set -- redis-server --bind 0.0.0.0 --protected-mode no "$@"
fi
exec "$@"
