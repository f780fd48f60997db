"""Sessions that end (docs/api.md): logout, password change, expiry, and
the sockets of an ended session told `session_ended` and closed."""

import socket
import time

import pytest
from unit_helpers import PASSWORD, assert_error, assert_error_ack

from app.realtime.sessions import check_open_sockets

NEW_PASSWORD = "a-new-passphrase"


def closed_port():
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def login(client, username, password=PASSWORD):
    return client.post("/api/auth/login", json={"username": username, "password": password})


def headers(token):
    return {"Authorization": f"Bearer {token}"}


def check_sockets(app):
    with app.app_context():
        return check_open_sockets()


# --- logout ---------------------------------------------------------------------------


def test_logout_ends_that_token_only(client, alice):
    other_token = login(client, "alice").get_json()["token"]
    response = client.post("/api/auth/logout", headers=alice.headers)
    assert response.status_code == 204 and response.get_data() == b""
    assert_error(client.get("/api/me", headers=alice.headers), 401, "unauthorized")
    assert client.get("/api/me", headers=headers(other_token)).status_code == 200


def test_a_logged_out_token_cannot_log_out_again_or_connect(client, alice, socket_for):
    client.post("/api/auth/logout", headers=alice.headers)
    assert_error(client.post("/api/auth/logout", headers=alice.headers), 401, "unauthorized")
    refused = socket_for(alice)
    assert not refused.is_connected()
    assert "logged out" in refused.connect_errors[0]["data"]["error"]["message"]


def test_logout_closes_the_sockets_of_that_token_after_session_ended(
    app, client, alice, socket_for
):
    other_token = login(client, "alice").get_json()["token"]
    mine = socket_for(alice)
    other = socket_for(auth={"token": other_token})
    client.post("/api/auth/logout", headers=alice.headers)
    ended = check_sockets(app)
    assert list(ended.values()) == ["logged_out"]
    assert mine.events("session_ended") == [{"reason": "logged_out"}]
    assert not mine.is_connected()
    assert other.is_connected() and other.events("session_ended") == []


def test_an_event_on_a_logged_out_socket_is_refused_and_the_socket_closed(
    client, alice, make_room, socket_for
):
    make_room(alice, "lounge")
    socket = socket_for(alice)
    client.post("/api/auth/logout", headers=alice.headers)
    ack = socket.emit(
        "send", {"room": "lounge", "body": "still here?", "client_id": "c1"}, callback=True
    )
    assert_error_ack(ack, "unauthorized")
    assert socket.events("session_ended") == [{"reason": "logged_out"}]
    assert not socket.is_connected()


# --- password change -----------------------------------------------------------------


def change(client, user, current=PASSWORD, new=NEW_PASSWORD):
    return client.put(
        "/api/me/password",
        headers=user.headers,
        json={"current_password": current, "new_password": new},
    )


def test_password_change_returns_a_fresh_token_and_ends_every_older_one(client, alice):
    other_token = login(client, "alice").get_json()["token"]
    response = change(client, alice)
    assert response.status_code == 200
    body = response.get_json()
    assert body["user"]["username"] == "alice" and body["token"] not in (alice.token, other_token)
    for old in (alice.token, other_token):
        assert_error(client.get("/api/me", headers=headers(old)), 401, "unauthorized")
    assert client.get("/api/me", headers=headers(body["token"])).status_code == 200
    assert login(client, "alice", NEW_PASSWORD).status_code == 200
    assert_error(login(client, "alice"), 401, "unauthorized")


def test_password_change_closes_every_older_socket_with_reason_revoked(
    app, client, alice, bob, socket_for
):
    old_socket = socket_for(alice)
    bobs = socket_for(bob)
    fresh_token = change(client, alice).get_json()["token"]
    fresh_socket = socket_for(auth={"token": fresh_token})
    check_sockets(app)
    assert old_socket.events("session_ended") == [{"reason": "revoked"}]
    assert not old_socket.is_connected()
    assert fresh_socket.is_connected() and bobs.is_connected()


def test_password_change_with_a_wrong_current_password_changes_nothing(client, alice):
    response = change(client, alice, current="not-my-password")
    assert "current_password" in assert_error(response, 422, "validation_error")["fields"]
    assert client.get("/api/me", headers=alice.headers).status_code == 200
    assert login(client, "alice").status_code == 200


@pytest.mark.parametrize("new", ["short", "x" * 129, "ok\ud800-but-lone"])
def test_password_change_checks_the_new_password(client, alice, new):
    response = change(client, alice, new=new)
    assert "new_password" in assert_error(response, 422, "validation_error")["fields"]


# --- expiry ----------------------------------------------------------------------------


class TestExpiry:
    @pytest.fixture
    def config_overrides(self):
        return {"TOKEN_TTL_SECONDS": 2}

    def test_a_socket_whose_token_expired_is_told_and_closed(self, app, alice, socket_for):
        socket = socket_for(alice)
        assert check_sockets(app) == {}
        time.sleep(2.2)
        assert list(check_sockets(app).values()) == ["expired"]
        assert socket.events("session_ended") == [{"reason": "expired"}]
        assert not socket.is_connected()

    def test_an_event_after_the_token_expired_is_refused(self, alice, make_room, socket_for):
        make_room(alice, "lounge")
        socket = socket_for(alice)
        time.sleep(2.2)
        assert_error_ack(socket.emit("join", {"room": "lounge"}, callback=True), "unauthorized")
        assert socket.events("session_ended") == [{"reason": "expired"}]
        assert not socket.is_connected()


# --- Redis unreachable ------------------------------------------------------------------


def test_without_redis_a_logout_is_refused_as_unavailable_and_checks_fail_open(app):
    from app.errors import ApiError
    from app.revocations import revocations

    with app.test_request_context():
        app.config["REDIS_URL"] = f"redis://127.0.0.1:{closed_port()}/0"  # nobody there
        try:
            with pytest.raises(ApiError) as refused:
                revocations.revoke("some-token-id", time.time() + 60)
            assert refused.value.code == "unavailable"
            # Not logged out, and the user's generation not known for sure.
            assert revocations.session_state("another-token-id", 1) == (False, None)
        finally:
            app.config["REDIS_URL"] = None
            revocations.clear_local()


def test_the_check_reads_generations_from_the_database_and_ends_the_deleted_users_sockets(
    app, alice, bob, carol, socket_for
):
    """Changed behind the app's back (no announcement): bob's generation bumped and
    carol's row gone; only their sockets end, alice's (generation 0) stays."""
    from sqlalchemy import delete, update

    from app.extensions import db
    from app.models import Membership, User

    sockets = {user.username: socket_for(user) for user in (alice, bob, carol)}
    with app.app_context():
        db.session.execute(update(User).where(User.username == "bob").values(token_generation=3))
        carol_id = db.session.scalar(db.select(User.id).where(User.username == "carol"))
        db.session.execute(delete(Membership).where(Membership.user_id == carol_id))
        db.session.execute(delete(User).where(User.id == carol_id))
        db.session.commit()
    app.extensions["chat_user_cache"].clear()
    assert sorted(check_sockets(app).values()) == ["revoked", "revoked"]
    assert sockets["alice"].is_connected()
    assert not sockets["bob"].is_connected() and not sockets["carol"].is_connected()
