#!/bin/sh
# Roles for running many instances of one image:
#   entrypoint.sh migrate <server command...>   wait for the database, take the
#       migration lock, `flask db upgrade`, `flask seed`, then exec the server.
#   entrypoint.sh serve <server command...>     wait until the database is at the
#       code's head revision, then exec the server; exit 3 on an unknown revision.
#   entrypoint.sh users promote|demote|deactivate NAME   site administration
#       (`flask users ...`): a site admin reads every room's audit log; a
#       deactivated user cannot log in and their sessions end on every instance.
# Without a server command, gunicorn with the project's settings is started.
set -eu

export FLASK_APP="${FLASK_APP:-app:create_app}"
DB_WAIT_SECONDS="${DB_WAIT_SECONDS:-60}"
SCHEMA_WAIT_SECONDS="${SCHEMA_WAIT_SECONDS:-120}"

log() { echo "entrypoint[$role]: $*" >&2; }

# Secrets as files (Docker and Swarm secrets, Kubernetes secret volumes):
# SECRET_KEY_FILE holds the signing key; DATABASE_PASSWORD_FILE the password
# that goes into DATABASE_URL (given without one, e.g. postgresql://chat@db/chat);
# REDIS_PASSWORD_FILE the one that goes into REDIS_URL (redis://redis:6379/0).
if [ -n "${SECRET_KEY_FILE:-}" ]; then
    SECRET_KEY="$(cat "$SECRET_KEY_FILE")"
    export SECRET_KEY
fi
# with_password URL FILE: URL with the password in FILE (URL-quoted) in it.
with_password() {
    python -c 'import sys, urllib.parse as u
url, password = u.urlsplit(sys.argv[1]), open(sys.argv[2]).read().strip()
netloc = url.netloc.rsplit("@", 1)
user = netloc[0].split(":", 1)[0] if len(netloc) == 2 else ""
host = netloc[-1]
print(url._replace(netloc=f"{user}:{u.quote(password, safe=str())}@{host}").geturl())' "$1" "$2"
}
if [ -n "${DATABASE_PASSWORD_FILE:-}" ]; then
    DATABASE_URL="$(with_password "$DATABASE_URL" "$DATABASE_PASSWORD_FILE")"
    export DATABASE_URL
fi
if [ -n "${REDIS_PASSWORD_FILE:-}" ]; then
    REDIS_URL="$(with_password "$REDIS_URL" "$REDIS_PASSWORD_FILE")"
    export REDIS_URL
fi

role="${1:-}"
[ $# -gt 0 ] && shift
if [ "$role" = "users" ]; then
    exec flask users "$@"
fi
if [ $# -eq 0 ]; then
    set -- gunicorn -c python:app.gunicorn_conf wsgi:app
fi

case "$role" in
    migrate)
        log "waiting up to ${DB_WAIT_SECONDS}s for the database"
        flask wait-db --timeout "$DB_WAIT_SECONDS"
        log "migrating (under the advisory lock) and seeding"
        flask upgrade-once
        ;;
    serve)
        log "waiting up to ${SCHEMA_WAIT_SECONDS}s for the schema to reach the code's head"
        flask check-schema --wait "$SCHEMA_WAIT_SECONDS"
        ;;
    *)
        echo "usage: entrypoint.sh migrate|serve [server command...] | users promote|demote|deactivate NAME" >&2
        exit 2
        ;;
esac
log "starting: $*"
exec "$@"
