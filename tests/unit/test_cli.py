"""Flask commands through app.test_cli_runner(): seed, check-schema, wait-db, upgrade-once."""

import pytest
from sqlalchemy import func, select, text
from unit_helpers import test_config

from app import create_app
from app.cli import load_seeds
from app.extensions import db
from app.models import Membership, Message, Room, User


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


def counts(app):
    with app.app_context():
        return {
            model.__tablename__: db.session.scalar(select(func.count()).select_from(model))
            for model in (User, Room, Membership, Message)
        }


# --- seed -----------------------------------------------------------------


def test_seed_loads_users_rooms_and_messages(app, runner):
    result = runner.invoke(args=["seed"])
    assert result.exit_code == 0, result.output
    assert "3 users" in result.output
    assert counts(app) == {"users": 3, "rooms": 2, "memberships": 6, "messages": 3}


def test_seed_twice_adds_nothing(app, runner):
    runner.invoke(args=["seed"])
    before = counts(app)
    result = runner.invoke(args=["seed"])
    assert result.exit_code == 0, result.output
    assert "added 0 users, 0 rooms, 0 memberships, 0 messages" in result.output
    assert counts(app) == before


def test_load_seeds_reports_nothing_added_the_second_time(app):
    with app.app_context():
        assert load_seeds() == {"users": 3, "rooms": 2, "memberships": 6, "messages": 3}
        assert load_seeds() == {"users": 0, "rooms": 0, "memberships": 0, "messages": 0}


@pytest.mark.parametrize("username", ["alice", "bob", "carol"])
def test_seeded_users_log_in_with_password123(client, runner, username):
    runner.invoke(args=["seed"])
    response = client.post(
        "/api/auth/login", json={"username": username, "password": "password123"}
    )
    assert response.status_code == 200


def test_seeded_rooms_are_public_with_all_three_members(client, runner):
    runner.invoke(args=["seed"])
    token = client.post(
        "/api/auth/login", json={"username": "alice", "password": "password123"}
    ).get_json()["token"]
    headers = {"Authorization": f"Bearer {token}"}
    for name in ("general", "random"):
        room = client.get(f"/api/rooms/{name}", headers=headers).get_json()
        assert room["kind"] == "public"
        members = client.get(f"/api/rooms/{name}/members", headers=headers).get_json()["members"]
        assert [m["user"]["username"] for m in members] == ["alice", "bob", "carol"]


def test_seed_puts_welcome_messages_in_general(client, runner):
    runner.invoke(args=["seed"])
    token = client.post(
        "/api/auth/login", json={"username": "bob", "password": "password123"}
    ).get_json()["token"]
    messages = client.get(
        "/api/rooms/general/messages", headers={"Authorization": f"Bearer {token}"}
    ).get_json()["messages"]
    assert len(messages) == 3
    assert all(m["body"] for m in messages)


def test_seed_keeps_rooms_and_users_that_exist(app, runner, make_room, register):
    alice = register("alice", password="not-the-seed-password")
    make_room(alice, "general", title="Alice's own")
    result = runner.invoke(args=["seed"])
    assert result.exit_code == 0, result.output
    with app.app_context():
        general = db.session.scalar(select(Room).where(Room.name == "general"))
        assert general.title == "Alice's own"
        assert db.session.scalar(select(func.count()).select_from(User)) == 3


# --- demo data in production, and what an operator deleted -------------------


def production_app(tmp_path, create_tables=True, **overrides):
    app = create_app(test_config(tmp_path, APP_ENV="production", **overrides))
    if create_tables:
        with app.app_context():
            db.create_all()
    return app


@pytest.mark.parametrize("command", [["seed"], ["upgrade-once", "--seed"]])
def test_production_loads_no_demo_data_unless_asked(tmp_path, command):
    # upgrade-once builds the schema itself, from an empty database.
    app = production_app(tmp_path, create_tables=command[0] == "seed")
    result = app.test_cli_runner().invoke(args=command)
    assert result.exit_code == 0, result.output
    assert "seed: skipped" in result.output and "SEED_DEMO=1" in result.output
    assert counts(app) == {"users": 0, "rooms": 0, "memberships": 0, "messages": 0}


def test_production_with_seed_demo_loads_the_demo_data(tmp_path):
    app = production_app(tmp_path, SEED_DEMO=True)
    result = app.test_cli_runner().invoke(args=["seed"])
    assert result.exit_code == 0, result.output
    assert counts(app) == {"users": 3, "rooms": 2, "memberships": 6, "messages": 3}


def test_a_deleted_seed_user_or_membership_is_not_put_back(app, runner):
    runner.invoke(args=["seed"])
    with app.app_context():
        carol = db.session.scalar(select(User).where(User.username == "carol"))
        bob = db.session.scalar(select(User).where(User.username == "bob"))
        general = db.session.scalar(select(Room).where(Room.name == "general"))
        db.session.delete(db.session.get(Membership, (general.id, bob.id)))
        db.session.execute(db.delete(Membership).where(Membership.user_id == carol.id))
        db.session.delete(carol)
        db.session.commit()
    before = counts(app)
    result = runner.invoke(args=["seed"])
    assert result.exit_code == 0, result.output
    assert "added 0 users, 0 rooms, 0 memberships, 0 messages" in result.output
    assert counts(app) == before


def test_a_deleted_seed_room_is_not_put_back(app, runner):
    runner.invoke(args=["seed"])
    with app.app_context():
        room = db.session.scalar(select(Room).where(Room.name == "random"))
        db.session.delete(room)
        db.session.commit()
    runner.invoke(args=["seed"])
    with app.app_context():
        assert db.session.scalar(select(Room).where(Room.name == "random")) is None


# --- check-schema ---------------------------------------------------------


def test_check_schema_fails_on_an_unmigrated_database(runner):
    result = runner.invoke(args=["check-schema"])
    assert result.exit_code == 1
    assert "no migration has run yet" in result.output


def test_check_schema_refuses_an_unknown_revision_with_exit_3(app, runner):
    with app.app_context():
        db.session.execute(text("CREATE TABLE alembic_version (version_num VARCHAR(32))"))
        db.session.execute(text("INSERT INTO alembic_version VALUES ('ffffffffffff')"))
        db.session.commit()
    result = runner.invoke(args=["check-schema"])
    assert result.exit_code == 3
    assert "refusing to start" in result.output
    assert "ffffffffffff" in result.output


# --- wait-db and upgrade-once ----------------------------------------------


def test_wait_db_returns_once_the_database_answers(runner):
    result = runner.invoke(args=["wait-db", "--timeout", "1"])
    assert result.exit_code == 0, result.output
    assert "reachable" in result.output


def test_upgrade_once_migrates_and_seeds_an_empty_database(tmp_path):
    app = create_app(test_config(tmp_path))
    result = app.test_cli_runner().invoke(args=["upgrade-once"])
    assert result.exit_code == 0, result.output
    assert counts(app)["users"] == 3
    assert app.test_cli_runner().invoke(args=["check-schema"]).exit_code == 0


def test_upgrade_once_without_seed_leaves_the_database_empty(tmp_path):
    app = create_app(test_config(tmp_path))
    result = app.test_cli_runner().invoke(args=["upgrade-once", "--no-seed"])
    assert result.exit_code == 0, result.output
    assert counts(app) == {"users": 0, "rooms": 0, "memberships": 0, "messages": 0}
