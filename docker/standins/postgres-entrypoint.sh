#!/bin/sh
# The real postgres image's first-start behaviour, reduced to what the
# container files use: an empty $PGDATA is initialised with POSTGRES_USER as
# superuser (password POSTGRES_PASSWORD, scram-sha-256 over the network) and
# POSTGRES_DB created (POSTGRES_PASSWORD_FILE may replace POSTGRES_PASSWORD); then the server runs as the postgres user.
set -eu
if [ -n "${POSTGRES_PASSWORD_FILE:-}" ]; then  # a Docker secret, as the real image allows
    POSTGRES_PASSWORD="$(cat "$POSTGRES_PASSWORD_FILE")"
fi
: "${POSTGRES_USER:=postgres}"
: "${POSTGRES_DB:=$POSTGRES_USER}"
as_postgres() { setpriv --reuid postgres --regid postgres --init-groups "$@"; }

if [ "$(id -u)" = 0 ]; then
    mkdir -p "$PGDATA" /var/run/postgresql
    chown postgres:postgres "$PGDATA" /var/run/postgresql
    chmod 700 "$PGDATA"
fi
if [ "${1:-}" = postgres ] && [ ! -s "$PGDATA/PG_VERSION" ]; then
    : "${POSTGRES_PASSWORD:?POSTGRES_PASSWORD must be set}"
    pwfile="$(mktemp)"
    printf '%s\n' "$POSTGRES_PASSWORD" >"$pwfile"
    chown postgres "$pwfile"
    # UTF8, as the real image (its locale is en_US.utf8): a C locale would make
    # the databases SQL_ASCII, and every non-ASCII message fail to store.
    as_postgres initdb -D "$PGDATA" --username="$POSTGRES_USER" --pwfile="$pwfile" \
        --encoding=UTF8 --locale=C.UTF-8 \
        --auth-local=trust --auth-host=scram-sha-256 >/dev/null
    rm -f "$pwfile"
    echo "host all all all scram-sha-256" >>"$PGDATA/pg_hba.conf"
    echo "listen_addresses = '*'" >>"$PGDATA/postgresql.conf"
    as_postgres pg_ctl -D "$PGDATA" -o "-c listen_addresses=''" -w start >/dev/null
    if [ "$POSTGRES_DB" != postgres ]; then
        as_postgres createdb -U "$POSTGRES_USER" "$POSTGRES_DB"
    fi
    as_postgres pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null
    echo "postgres stand-in: initialised $PGDATA (user $POSTGRES_USER, database $POSTGRES_DB)"
fi
if [ "${1:-}" = postgres ] && [ "$(id -u)" = 0 ]; then
    exec setpriv --reuid postgres --regid postgres --init-groups "$@"
fi
exec "$@"
