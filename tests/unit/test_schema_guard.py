"""An instance whose code is behind the database's schema refuses API work with
503 unavailable, so nginx moves the request to another instance."""

import pytest
from sqlalchemy import text
from unit_helpers import assert_error

from app.extensions import db
from app.schema_state import schema_guard


@pytest.fixture
def migrated():
    return True


@pytest.fixture
def config_overrides():
    return {"SCHEMA_CHECK_SECONDS": 0}


def stamp(app, revision):
    with app.app_context():
        db.session.execute(text("UPDATE alembic_version SET version_num = :r"), {"r": revision})
        db.session.commit()


def test_api_work_is_refused_while_the_schema_is_newer_than_the_code(app, client, alice):
    assert client.get("/api/rooms", headers=alice.headers).status_code == 200
    stamp(app, "9999_from_newer_code")
    response = client.get("/api/rooms", headers=alice.headers)
    assert_error(response, 503, "unavailable")
    assert response.headers["Retry-After"] == "1"
    assert_error(
        client.post("/api/auth/login", json={"username": "alice", "password": "x"}),
        503,
        "unavailable",
    )
    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").status_code == 503


def test_a_socket_connect_is_refused_too(app, alice, socket_for):
    stamp(app, "9999_from_newer_code")
    socket = socket_for(alice)
    assert not socket.is_connected()
    assert socket.connect_errors[0]["data"]["error"]["code"] == "unavailable"


def test_work_resumes_when_the_schema_is_known_again(app, client, alice):
    with app.app_context():
        head = db.session.scalar(text("SELECT version_num FROM alembic_version"))
    stamp(app, "9999_from_newer_code")
    assert client.get("/api/me", headers=alice.headers).status_code == 503
    stamp(app, head)
    assert client.get("/api/me", headers=alice.headers).status_code == 200


def test_the_state_is_looked_up_at_most_every_schema_check_seconds(app, client, alice):
    app.config["SCHEMA_CHECK_SECONDS"] = 3600
    try:
        with app.app_context():
            schema_guard.forget()
        assert client.get("/api/me", headers=alice.headers).status_code == 200
        stamp(app, "9999_from_newer_code")
        assert client.get("/api/me", headers=alice.headers).status_code == 200  # cached
    finally:
        app.config["SCHEMA_CHECK_SECONDS"] = 0


def test_requests_arriving_during_a_check_do_not_start_checks_of_their_own(app, alice, monkeypatch):
    """Under a green worker other requests run while a check waits on the database;
    here the check itself asks again, as such a request would."""
    import app.schema_state as health

    app.config["SCHEMA_CHECK_SECONDS"] = 3600
    calls = []
    real = health.schema_status

    def schema_status_with_a_request_arriving_meanwhile(*args):
        calls.append(1)
        assert schema_guard.refusal() is None  # the request arriving meanwhile
        return real(*args)

    monkeypatch.setattr(health, "schema_status", schema_status_with_a_request_arriving_meanwhile)
    try:
        with app.app_context():
            schema_guard.forget()
            assert schema_guard.refusal() is None
        assert calls == [1]
    finally:
        app.config["SCHEMA_CHECK_SECONDS"] = 0
