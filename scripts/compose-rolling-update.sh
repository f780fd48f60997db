#!/bin/sh
# A rolling update of the compose stack's api service, with no downtime:
#   1. the migrator is rebuilt and recreated if its image or settings changed
#      (it migrates under its lock before it turns healthy; replicas of the old
#      code keep serving meanwhile);
#   2. then, BATCH (default 2) replicas at a time: as many new replicas start
#      from the current image and settings and must turn healthy, and then as
#      many old ones are stopped: SIGTERM makes each drain (it refuses new
#      work and closes its sockets; the clients reconnect through nginx to
#      another replica and `sync`), and they are removed.
# nginx needs nothing: it re-resolves `api` every 10 s and skips stopped
# replicas meanwhile. Uses the same project and settings as `make compose`
# (COMPOSE_PROJECT_NAME and COMPOSE_ENV_FILES are honoured).
set -eu
cd "$(dirname "$0")/.."
BATCH="${BATCH:-2}"

running() { docker compose ps --quiet api | grep . || true; }
old="$(running)"
count="$(echo "$old" | grep -c . || true)"
[ "$count" -gt 0 ] || { echo "rolling update: no api replica is running" >&2; exit 1; }

echo "rolling update: the migrator first"
docker compose up --detach --wait --no-deps --build migrator
while [ -n "$old" ]; do
    batch="$(echo "$old" | head -n "$BATCH")"
    old="$(echo "$old" | tail -n +"$((BATCH + 1))")"
    size="$(echo "$batch" | grep -c .)"
    total="$(running | grep -c .)"
    echo "rolling update: $size new api replica(s), then $size old one(s) stopped"
    docker compose up --detach --wait --no-deps --no-recreate --scale "api=$((total + size))" api
    # shellcheck disable=SC2086
    docker stop --time 30 $batch >/dev/null
    # shellcheck disable=SC2086
    docker rm $batch >/dev/null
done
echo "rolling update: done, $(running | grep -c .) api replicas"
