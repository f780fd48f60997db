"""Fixtures for the unit tests: an app on a SQLite file, a client, users.

Every test starts from an empty database, no rate-limit hits and nobody
online. Building an app costs more than most tests (flask-smorest rebuilds the
OpenAPI spec), so a test module reuses its app and the fixture empties it
between tests. A module (or class) changes settings by overriding the
`config_overrides` fixture, or asks for the real migrations with `migrated`.
"""

from dataclasses import dataclass

import pytest
from flask_migrate import upgrade
from sqlalchemy import event, inspect, text
from unit_helpers import PASSWORD, RecordingSocketClient, test_config

from app import create_app, search_index
from app.extensions import db, limiter
from app.realtime.presence import presence
from app.realtime.server import socketio
from app.user_cache import users


def _skip_fsync(dbapi_connection, connection_record):
    # Speed only: a test database need not survive a power cut.
    dbapi_connection.execute("PRAGMA synchronous=OFF")


def _build_app(tmp_path, overrides, migrated):
    app = create_app(test_config(tmp_path, **overrides))
    with app.app_context():
        event.listen(db.engine, "connect", _skip_fsync)
        if migrated:
            upgrade()
        else:
            db.create_all()
    return app


def _empty(app):
    """Back to a fresh app: model tables empty, no other table, no limits hit, nobody
    online, no user rows cached (SQLite gives the next test's users the same ids)."""
    with app.app_context():
        db.session.remove()
        users().clear()
        with db.engine.begin() as connection:
            for name in set(inspect(connection).get_table_names()) - set(db.metadata.tables):
                if search_index.is_index_table(name):  # emptied by its triggers
                    continue
                connection.execute(text(f'DROP TABLE "{name}"'))
            for table in reversed(db.metadata.sorted_tables):
                connection.execute(table.delete())
    if app.config["RATELIMIT_ENABLED"]:  # disabled, Flask-Limiter has no storage
        limiter.reset()
    presence.forget_instance()


# (module, settings) -> (app, the Socket.IO server it bound). Extensions are
# module-level singletons bound by the latest create_app(), so an app is reused
# only while no other app has been created since.
_apps = {}


@pytest.fixture
def config_overrides():
    """Settings a test module wants changed (override this fixture)."""
    return {}


@pytest.fixture
def migrated():
    """True to build the schema with the real migrations instead of create_all."""
    return False


@pytest.fixture
def app(request, tmp_path_factory, config_overrides, migrated):
    key = (request.module.__name__, tuple(sorted(config_overrides.items())))
    cached = None if migrated else _apps.get(key)
    if cached is not None and cached[1] is socketio.server:
        _empty(cached[0])
        return cached[0]
    app = _build_app(tmp_path_factory.mktemp("app"), config_overrides, migrated)
    if not migrated:  # a migrated database may be downgraded by its test
        _apps[key] = (app, socketio.server)
    return app


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def statements(app):
    """The SQL statements run while the test runs (after its fixtures)."""
    seen = []

    def record(conn, cursor, statement, *args):
        seen.append(" ".join(statement.split()))

    with app.app_context():
        event.listen(db.engine, "before_cursor_execute", record)
    yield seen
    with app.app_context():
        event.remove(db.engine, "before_cursor_execute", record)


@dataclass
class LoggedIn:
    """A registered user: what register returned, and the headers to act as them."""

    username: str
    token: str
    user: dict

    @property
    def headers(self):
        return {"Authorization": f"Bearer {self.token}"}


@pytest.fixture
def register(client):
    """register(username, password=..., display_name=None) -> LoggedIn."""

    def register(username, password=PASSWORD, display_name=None):
        body = {"username": username, "password": password}
        if display_name is not None:
            body["display_name"] = display_name
        response = client.post("/api/auth/register", json=body)
        assert response.status_code == 201, response.get_json()
        data = response.get_json()
        return LoggedIn(data["user"]["username"], data["token"], data["user"])

    return register


@pytest.fixture
def alice(register):
    return register("alice", display_name="Alice")


@pytest.fixture
def bob(register):
    return register("bob", display_name="Bob")


@pytest.fixture
def carol(register):
    return register("carol", display_name="Carol")


@pytest.fixture
def make_room(client):
    """make_room(owner, name, private=False, title="") -> the room as returned (201)."""

    def make_room(owner, name, private=False, title=""):
        response = client.post(
            "/api/rooms",
            headers=owner.headers,
            json={"name": name, "private": private, "title": title},
        )
        assert response.status_code == 201, response.get_json()
        return response.get_json()

    return make_room


@pytest.fixture
def send(client):
    """send(user, room, body, client_id=None) -> the response."""

    def send(user, room, body="hello", client_id=None):
        payload = {"body": body}
        if client_id is not None:
            payload["client_id"] = client_id
        return client.post(f"/api/rooms/{room}/messages", headers=user.headers, json=payload)

    return send


@pytest.fixture
def lounge(make_room, join, alice, bob):
    """A public room alice made, with bob in it; its name."""
    make_room(alice, "lounge")
    join(bob, "lounge")
    return "lounge"


@pytest.fixture
def join(client):
    """join(user, room): a public room joined through REST (asserts 200)."""

    def join(user, room):
        response = client.post(f"/api/rooms/{room}/members", headers=user.headers)
        assert response.status_code == 200, response.get_json()
        return response.get_json()

    return join


_USER_TOKEN = object()


@pytest.fixture
def socket_for(app):
    """socket_for(user, auth=..., query_string=...) -> a connected (or refused) test client.

    By default the auth payload is {"token": <the user's token>}, or none for None.
    """
    clients = []

    def socket_for(user=None, auth=_USER_TOKEN, query_string=None):
        if auth is _USER_TOKEN:
            auth = {"token": user.token} if user is not None else None
        client = RecordingSocketClient(app, socketio, auth=auth, query_string=query_string)
        clients.append(client)
        return client

    yield socket_for
    for client in clients:
        if client.is_connected():
            client.disconnect()
