"""The session check on PostgreSQL (app/realtime/sessions.py): the users'
generations read with their ids as one array, a deleted user's sockets ended."""

import pytest
from flask_migrate import upgrade

from app.realtime.server import socketio
from app.realtime.sessions import check_open_sockets

PASSWORD = "password123"


@pytest.fixture
def app(make_app, database):
    app = make_app(database.url)
    with app.app_context():
        upgrade()
    return app


def test_changed_generations_and_deleted_users_end_their_sockets(app, database, statements):
    client = app.test_client()
    sockets = {}
    for name in ("alice", "bob", "carol"):
        response = client.post("/api/auth/register", json={"username": name, "password": PASSWORD})
        assert response.status_code == 201, response.get_json()
        token = response.get_json()["token"]
        sockets[name] = socketio.test_client(app, auth={"token": token})
        assert sockets[name].is_connected()
    # Behind the app's back: no announcement, only the table says it.
    database.psql("UPDATE users SET token_generation = 3 WHERE username = 'bob'")
    database.psql(
        "DELETE FROM memberships WHERE user_id = (SELECT id FROM users WHERE username = 'carol');"
        "DELETE FROM users WHERE username = 'carol'"
    )
    del statements[:]
    with app.app_context():
        ended = check_open_sockets()
    assert sorted(ended.values()) == ["revoked", "revoked"]
    assert sockets["alice"].is_connected()
    assert not sockets["bob"].is_connected() and not sockets["carol"].is_connected()
    assert "SELECT id, token_generation FROM users WHERE id = ANY(%(ids)s)" in statements
    assert not [s for s in statements if "users.id IN" in s]  # no list of bind parameters
