"""entrypoint.sh's roles on a real PostgreSQL: `migrate` and `serve`.

Every command runs as a subprocess in its own process group, with a timeout,
and is stopped after the test (see conftest.py). Servers bind 127.0.0.1 only.
"""

import os
import socket
import time

import psycopg2
import pytest
import requests
from flask_migrate import upgrade
from localservices import free_port, wait_for_port  # scripts/ is on sys.path (conftest.py)

from app.cli import MIGRATION_LOCK_KEY
from app.health import code_heads

pytestmark = pytest.mark.integration

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ENTRYPOINT = os.path.join(ROOT, "entrypoint.sh")
SERVER_COMMAND = ["gunicorn", "-c", "python:app.gunicorn_conf", "wsgi:app"]
SEED_COUNTS = {"users": 3, "rooms": 2, "memberships": 6, "messages": 3}

HEAD = sorted(code_heads())
# A server command that proves it was exec'd: `$$` of `sh -c` is the pid of the
# process running it, which after an exec is the pid the test started.
PID_SERVER = ["sh", "-c", 'echo "server started, pid $$"']


def port_open(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def wait_until(condition, timeout, message, interval=0.1):
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {message}")
        time.sleep(interval)


# --- migrate ------------------------------------------------------------------


def test_two_migrators_at_once_migrate_once_and_both_exec_their_server(
    database, spawn, service_env
):
    """Two `entrypoint.sh migrate` on one empty database, contending for the lock.

    The test holds the migration lock itself until both migrators wait on it,
    so that they really race: released, one migrates and seeds, the other finds
    the schema at head and seeds nothing.
    """
    env = service_env(database.url, SEED_DEMO="1")  # APP_ENV=production: asked for
    holder = psycopg2.connect(database.url)
    holder.autocommit = True
    try:
        with holder.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK_KEY,))
        migrators = [
            spawn([ENTRYPOINT, "migrate", *PID_SERVER], env, name=f"migrate-{n}") for n in (1, 2)
        ]

        def both_waiting_for_the_lock():
            for migrator in migrators:
                if migrator.poll() is not None:
                    pytest.fail(f"{migrator.name} exited early\n{migrator.report()}")
            with holder.cursor() as cursor:
                cursor.execute(
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
                    " AND database = (SELECT oid FROM pg_database"
                    "                 WHERE datname = current_database())"
                    " AND classid::bigint = %s AND objid::bigint = %s",
                    (MIGRATION_LOCK_KEY >> 32, MIGRATION_LOCK_KEY & 0xFFFFFFFF),
                )
                return cursor.fetchone()[0] == 2

        wait_until(both_waiting_for_the_lock, 60, "both migrators to wait on the lock")
        assert database.tables() == []  # nobody migrated without the lock
        with holder.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK_KEY,))
    finally:
        holder.close()

    for migrator in migrators:
        migrator.wait(60)
        assert migrator.returncode == 0, migrator.report()
        assert f"server started, pid {migrator.pid}" in migrator.stdout, migrator.report()
        assert "taking the migration lock" in migrator.stderr, migrator.report()
    stderrs = [m.stderr for m in migrators]
    migrated = [s for s in stderrs if "migrated to head" in s]
    already = [s for s in stderrs if "already at head" in s]
    assert len(migrated) == 1 and len(already) == 1, "\n\n".join(m.report() for m in migrators)
    seeds = sorted(m.stdout.split("seed: added ")[1].splitlines()[0] for m in migrators)
    assert seeds == [
        "0 users, 0 rooms, 0 memberships, 0 messages",
        "3 users, 2 rooms, 6 memberships, 3 messages",
    ]

    assert database.psql("SELECT count(*) FROM alembic_version") == "1"
    assert database.revisions() == HEAD
    assert database.counts() == SEED_COUNTS


# --- serve ----------------------------------------------------------------------


def test_serve_waits_for_the_migration_then_starts_gunicorn_and_is_ready(
    database, spawn, run, service_env, tmp_path
):
    port = free_port()
    # XDG_RUNTIME_DIR: gunicorn >= 25.1 puts its control socket there (else in ~/.gunicorn).
    server_env = service_env(
        database.url,
        HOST="127.0.0.1",
        PORT=port,
        ASYNC_MODE="eventlet",
        INSTANCE_ID="serve-1",
        XDG_RUNTIME_DIR=tmp_path,
    )
    server = spawn([ENTRYPOINT, "serve", *SERVER_COMMAND], server_env, name="serve")

    # Before any migration: it waits, saying why, and listens on nothing.
    server.wait_for_output(
        "waiting for the schema to reach the code's head revision: empty: no migration has run yet",
        timeout=60,
    )
    time.sleep(1.2)  # at least one more poll of check-schema
    assert server.poll() is None, server.report()
    assert not port_open(port)
    assert "starting:" not in server.stderr

    migrate = run(
        [ENTRYPOINT, "migrate", "true"], service_env(database.url), timeout=90, name="migrate"
    )
    assert migrate.returncode == 0, migrate.report()
    assert "migrated to head" in migrate.stderr, migrate.report()

    try:
        wait_for_port(port, timeout=60, proc=server.popen, what="gunicorn", log=server.stderr_path)
    except Exception as exc:
        pytest.fail(f"{exc}\n{server.report()}")
    assert "schema is at the code's head revision" in server.stdout + server.stderr
    assert "starting: gunicorn" in server.stderr
    # exec'd: the process the test started is now gunicorn itself.
    with open(f"/proc/{server.pid}/cmdline", "rb") as f:
        assert b"gunicorn" in f.read()

    http = requests.Session()
    http.trust_env = False  # loopback only, never through a proxy
    response = http.get(f"http://127.0.0.1:{port}/readyz", timeout=10)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "ready"
    assert body["checks"]["database"]["ok"] is True
    assert response.headers["X-Instance"] == "serve-1"

    server.stop()
    assert server.returncode is not None
    assert not port_open(port)


def test_serve_refuses_a_revision_the_code_does_not_know(database, make_app, run, service_env):
    with make_app(database.url).app_context():
        upgrade()
    database.psql("UPDATE alembic_version SET version_num = 'ffff_future'")

    serve = run(
        [ENTRYPOINT, "serve", *PID_SERVER],
        service_env(database.url, SCHEMA_WAIT_SECONDS=60),
        timeout=60,
    )
    assert serve.returncode == 3, serve.report()
    assert serve.elapsed < 20, serve.report()  # at once, not after the 60 s wait
    assert "refusing to start" in serve.stderr, serve.report()
    assert "ffff_future" in serve.stderr, serve.report()
    assert "server started" not in serve.stdout


def test_serve_gives_up_after_the_schema_wait_on_an_empty_database(database, run, service_env):
    serve = run(
        [ENTRYPOINT, "serve", *PID_SERVER],
        service_env(database.url, SCHEMA_WAIT_SECONDS=2),
        timeout=60,
    )
    assert serve.returncode not in (0, None), serve.report()
    assert serve.elapsed >= 2, serve.report()
    assert "gave up waiting for the schema" in serve.stderr, serve.report()
    assert "after 2s" in serve.stderr and "no migration has run yet" in serve.stderr
    assert "server started" not in serve.stdout
    assert database.tables() == []


# --- users --------------------------------------------------------------------


def test_the_users_role_promotes_demotes_and_deactivates(database, run, service_env):
    """`entrypoint.sh users ...` is `flask users ...` in a container: a site admin
    is recorded; a deactivated user cannot log in."""
    env = service_env(database.url, SEED_DEMO="1")
    assert run(["flask", "upgrade-once"], env, timeout=120, name="migrate").returncode == 0
    promoted = run([ENTRYPOINT, "users", "promote", "alice"], env, timeout=60, name="promote")
    assert promoted.returncode == 0, promoted.report()
    assert "alice is a site admin" in promoted.stdout
    assert database.psql("SELECT site_admin FROM users WHERE username = 'alice'") == "t"
    demoted = run([ENTRYPOINT, "users", "demote", "alice"], env, timeout=60, name="demote")
    assert demoted.returncode == 0, demoted.report()
    assert database.psql("SELECT site_admin FROM users WHERE username = 'alice'") == "f"
    done = run([ENTRYPOINT, "users", "deactivate", "bob"], env, timeout=60, name="deactivate")
    assert done.returncode == 0, done.report()
    assert (
        database.psql("SELECT deactivated_at IS NOT NULL FROM users WHERE username = 'bob'") == "t"
    )
    unknown = run([ENTRYPOINT, "users", "promote", "nobody"], env, timeout=60, name="unknown")
    assert unknown.returncode != 0
    assert "nobody" in unknown.stderr
