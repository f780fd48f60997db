"""A database built by the real migrations: ready, at head, and matching the models."""

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade

from app.extensions import db
from app.health import code_heads
from app.search_index import include_in_autogenerate


@pytest.fixture
def migrated():
    return True


def test_readyz_is_200_ready_on_a_migrated_database(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "ready"
    assert body["checks"]["database"]["ok"] is True
    assert body["checks"]["message_queue"]["ok"] is True


def test_migrations_reach_the_code_head(app):
    with app.app_context(), db.engine.connect() as connection:
        current = set(MigrationContext.configure(connection).get_current_heads())
    assert current == set(code_heads())


def test_migrated_schema_matches_the_models(app):
    with app.app_context(), db.engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "include_name": include_in_autogenerate}
        )
        differences = compare_metadata(context, db.metadata)
    assert differences == []


def test_the_api_works_on_a_migrated_database(client, register, make_room, send):
    alice = register("alice")
    make_room(alice, "lounge")
    assert send(alice, "lounge", "hello").status_code == 201


def test_readyz_is_503_after_a_downgrade_to_base(app, client):
    with app.app_context():
        downgrade(revision="base")
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.get_json()["checks"]["database"]["ok"] is False


def test_check_schema_exits_0_at_head(app):
    result = app.test_cli_runner().invoke(args=["check-schema"])
    assert result.exit_code == 0, result.output
    assert "head" in result.output
