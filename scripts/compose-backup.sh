#!/bin/sh
# Backups of the compose stack's database (docs/compose.md, "Backups"):
#   compose-backup.sh backup          pg_dump in custom format into ./backups/
#                                     (BACKUP_DIR), named chat-<UTC time>.dump;
#                                     the stack keeps serving meanwhile
#   compose-backup.sh restore FILE    the app stopped, FILE restored into the
#                                     database (an empty one, e.g. on a new
#                                     volume, or the current one, replaced), the
#                                     stack started again and waited for
# The compose project, its .env and COMPOSE_* settings are the ones `docker
# compose` itself would use here.
set -eu
cd "$(dirname "$0")/.."
BACKUP_DIR="${BACKUP_DIR:-backups}"
say() { echo "backup: $*"; }
# The database's settings are the db container's own (POSTGRES_USER and
# POSTGRES_DB in its environment); the secrets come from .env as for `up`.
in_db() { docker compose exec -T db sh -c "$1"; }

backup() {
    mkdir -p "$BACKUP_DIR"
    file="$BACKUP_DIR/chat-$(date -u +%Y%m%dT%H%M%SZ).dump"
    # Custom format: compressed, restorable table by table, any pg_restore >= 17.
    if ! in_db 'pg_dump --format=custom --no-owner -U "$POSTGRES_USER" -d "$POSTGRES_DB"' >"$file.part"; then
        rm -f "$file.part"
        say "pg_dump failed" >&2
        exit 1
    fi
    mv "$file.part" "$file"
    say "$file ($(wc -c <"$file") bytes)"
}

restore() {
    file="${1:-}"
    [ -n "$file" ] && [ -f "$file" ] || { say "restore needs FILE=<a .dump from make backup>" >&2; exit 2; }
    # Nothing may write (or migrate an empty database) while it is restored.
    say "stopping nginx, the api replicas and the migrator"
    docker compose stop nginx api migrator >/dev/null
    docker compose up --detach --wait db >/dev/null
    say "restoring $file"
    # --clean --if-exists: into an empty database as into one to replace.
    in_db 'pg_restore --clean --if-exists --no-owner --exit-on-error -U "$POSTGRES_USER" -d "$POSTGRES_DB"' <"$file"
    say "starting the stack again"
    docker compose up --detach --wait ${SCALE:+--scale api=$SCALE} >/dev/null
    say "restored $file"
}

case "${1:-}" in
    backup) backup ;;
    restore) restore "${2:-}" ;;
    *) sed -n '2,12p' "$0" >&2; exit 2 ;;
esac
