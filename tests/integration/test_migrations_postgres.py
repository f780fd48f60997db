"""The migrations, the seed and /readyz on a real PostgreSQL (and the model check on SQLite).

Each test gets a fresh database on one private PostgreSQL server started for
the session (see conftest.py).
"""

import re

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade

from app.extensions import db
from app.health import code_heads, schema_status
from app.search_index import include_in_autogenerate

pytestmark = pytest.mark.integration

CHAT_TABLES = [
    "alembic_version",
    "audit_entries",
    "bans",
    "file_chunks",
    "files",
    "invites",
    "memberships",
    "mentions",
    "messages",
    "reactions",
    "rooms",
    "seed_items",
    "users",
    "webhooks",
]
HEAD = sorted(code_heads())


def model_differences(app):
    """What autogenerate would put in a new migration ([] when models and schema agree)."""
    with app.app_context(), db.engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "include_name": include_in_autogenerate}
        )
        return compare_metadata(context, db.metadata)


def test_upgrade_from_empty_downgrade_to_base_and_upgrade_again(database, make_app):
    app = make_app(database.url)
    assert database.tables() == []
    with app.app_context():
        assert schema_status()[0] == "empty"

        upgrade()
        assert database.tables() == CHAT_TABLES
        assert database.revisions() == HEAD
        assert schema_status()[0] == "at_head"

        downgrade(revision="base")
        assert database.tables() == ["alembic_version"]
        assert database.revisions() == []
        assert schema_status()[0] == "empty"

        upgrade()
        assert database.tables() == CHAT_TABLES
        assert database.revisions() == HEAD
        assert schema_status()[0] == "at_head"
    # The second upgrade rebuilt everything: indexes, constraints, types.
    assert model_differences(app) == []


@pytest.mark.parametrize("backend", ["postgresql", "sqlite"])
def test_models_and_migrations_agree(backend, request, tmp_path, make_app, run, service_env):
    """After `flask db upgrade`, autogenerate finds nothing: no migration is missing."""
    if backend == "postgresql":
        url = request.getfixturevalue("database").url
    else:
        url = f"sqlite:///{tmp_path}/check.db"
    app = make_app(url)
    with app.app_context():
        upgrade()
    assert model_differences(app) == []

    # The same through the real CLI, with the app's own Flask-Migrate options.
    check = run(["flask", "db", "check"], service_env(url), timeout=60)
    assert check.returncode == 0, check.report()
    assert "No new upgrade operations detected" in check.stdout + check.stderr, check.report()


SEED_LINE = re.compile(r"seed: added (\d+) users, (\d+) rooms, (\d+) memberships, (\d+) messages")


def seeded(process):
    """The counts a `flask seed` printed, as a dict like SEED_COUNTS."""
    match = SEED_LINE.search(process.stdout)
    assert match, process.report()
    return dict(zip(["users", "rooms", "memberships", "messages"], map(int, match.groups())))


def test_seed_twice_adds_nothing_and_the_seeded_user_logs_in(database, make_app, run, service_env):
    app = make_app(database.url)
    with app.app_context():
        upgrade()
    env = service_env(database.url, SEED_DEMO="1")  # APP_ENV=production: asked for

    first = run(["flask", "seed"], env, timeout=60, name="seed-1")
    assert first.returncode == 0, first.report()
    assert seeded(first) == {"users": 3, "rooms": 2, "memberships": 6, "messages": 3}
    after_first = database.counts()
    assert after_first == {"users": 3, "rooms": 2, "memberships": 6, "messages": 3}

    second = run(["flask", "seed"], env, timeout=60, name="seed-2")
    assert second.returncode == 0, second.report()
    assert seeded(second) == {"users": 0, "rooms": 0, "memberships": 0, "messages": 0}
    assert database.counts() == after_first

    client = app.test_client()
    login = client.post("/api/auth/login", json={"username": "alice", "password": "password123"})
    assert login.status_code == 200, login.get_data(as_text=True)
    token = login.get_json()["token"]
    messages = client.get(
        "/api/rooms/general/messages", headers={"Authorization": f"Bearer {token}"}
    )
    assert messages.status_code == 200
    assert len(messages.get_json()["messages"]) == 3
    wrong = client.post("/api/auth/login", json={"username": "alice", "password": "nope"})
    assert wrong.status_code == 401


def test_readyz_follows_the_schema_on_postgresql(database, make_app):
    app = make_app(database.url)
    client = app.test_client()

    response = client.get("/readyz")
    assert response.status_code == 503
    body = response.get_json()
    assert body["status"] == "unavailable"
    assert body["checks"]["database"] == {"ok": False, "detail": "no migration has run yet"}
    assert body["checks"]["message_queue"]["ok"] is True
    assert "database" in body["error"]["message"]

    with app.app_context():
        upgrade()
    response = client.get("/readyz")
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert body["status"] == "ready"
    assert body["checks"]["database"]["ok"] is True

    # Migrated by newer code: not ready, and the detail names the revision.
    database.psql("UPDATE alembic_version SET version_num = 'ffff_future'")
    response = client.get("/readyz")
    assert response.status_code == 503
    assert "ffff_future" in response.get_json()["checks"]["database"]["detail"]


def test_a_production_migrator_seeds_nothing_unless_asked(database, run, service_env):
    env = service_env(database.url)  # APP_ENV=production, no SEED_DEMO
    done = run(["flask", "upgrade-once"], env, timeout=120, name="upgrade-once")
    assert done.returncode == 0, done.report()
    assert "seed: skipped" in done.stdout
    assert database.counts() == {"users": 0, "rooms": 0, "memberships": 0, "messages": 0}


def test_a_seed_never_puts_back_what_an_operator_deleted(database, run, service_env):
    env = service_env(database.url, SEED_DEMO="1")
    assert run(["flask", "upgrade-once"], env, timeout=120, name="first").returncode == 0
    database.psql("DELETE FROM users WHERE username = 'carol'")
    database.psql(
        "DELETE FROM memberships WHERE user_id = "
        "(SELECT id FROM users WHERE username = 'bob') AND room_id = "
        "(SELECT id FROM rooms WHERE name = 'random')"
    )
    before = database.counts()
    again = run(["flask", "upgrade-once"], env, timeout=120, name="restart")
    assert again.returncode == 0, again.report()
    assert seeded(again) == {"users": 0, "rooms": 0, "memberships": 0, "messages": 0}
    assert database.counts() == before
    assert database.psql("SELECT count(*) FROM users WHERE username = 'carol'") == "0"


# The rooms and memberships of a database at 0006_threads_mute, before roles existed:
# (room, kind, [(username, days ago joined)]).
POPULATED = [
    ("oldest-first", "public", [("bob", 5), ("alice", 9), ("carol", 1)]),
    ("tied", "private", [("carol", 3), ("bob", 3)]),  # same time: lowest user id
    ("dm-alice-bob", "dm", [("alice", 4), ("bob", 2)]),
    ("empty", "public", []),
]


def test_the_communities_migration_gives_existing_rooms_owners(database, make_app):
    """At the previous head with data in it, then upgraded: each room but a DM is
    owned by its earliest member, everyone else is a member, and nothing is lost;
    and the migration goes down again."""
    app = make_app(database.url)
    with app.app_context():
        upgrade(revision="0006_threads_mute")
    database.psql(
        "INSERT INTO users (username, display_name, password_hash, created_at) VALUES "
        "('alice', 'Alice', 'x', now()), ('bob', 'Bob', 'x', now()), "
        "('carol', 'Carol', 'x', now())"
    )
    for room, kind, members in POPULATED:
        database.psql(
            f"INSERT INTO rooms (name, title, kind, created_at) VALUES ('{room}', '', '{kind}', now())"
        )
        for username, days in members:
            database.psql(
                "INSERT INTO memberships (room_id, user_id, joined_at) SELECT r.id, u.id, "
                f"timestamp with time zone '2026-11-01 12:00:00+00' - interval '{days} days' "
                f"FROM rooms r, users u WHERE r.name = '{room}' AND u.username = '{username}'"
            )
        database.psql(
            "INSERT INTO messages (room_id, author_id, body, created_at) "
            "SELECT r.id, u.id, 'hello', now() FROM rooms r, users u "
            f"WHERE r.name = '{room}' AND u.username = 'alice'"
        )
    before = database.counts()

    with app.app_context():
        upgrade()
    assert database.revisions() == HEAD
    roles = database.psql(
        "SELECT r.name || ':' || u.username || ':' || m.role FROM memberships m "
        "JOIN rooms r ON r.id = m.room_id JOIN users u ON u.id = m.user_id ORDER BY 1"
    ).split()
    assert roles == [
        "dm-alice-bob:alice:member",  # a DM has no owner
        "dm-alice-bob:bob:member",
        "oldest-first:alice:owner",
        "oldest-first:bob:member",
        "oldest-first:carol:member",
        "tied:bob:owner",  # joined at the same time as carol: the lower user id
        "tied:carol:member",
    ]
    assert database.counts() == before
    assert (
        database.psql(
            "SELECT count(*) FROM messages WHERE pinned_at IS NULL AND deleted_by IS NULL"
        )
        == "4"
    )
    assert database.psql("SELECT string_agg(DISTINCT topic, ',') FROM rooms") == ""
    assert database.psql("SELECT bool_or(bot) OR bool_or(site_admin) FROM users") == "f"
    assert model_differences(app) == []

    with app.app_context():
        downgrade(revision="0006_threads_mute")
    assert database.revisions() == ["0006_threads_mute"]
    assert database.counts() == before
