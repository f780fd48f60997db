"""The token's user, read once per USER_CACHE_SECONDS (app/user_cache.py), and
never a copy older than the token or than a password change announced through
app/revocations.py (as another instance's change would be)."""

import pytest
from sqlalchemy import update
from unit_helpers import PASSWORD, assert_error

from app.auth import issue_token
from app.extensions import db
from app.models import User
from app.realtime.sessions import check_open_sockets
from app.revocations import revocations


def user_reads(statements):
    return [s for s in statements if s.startswith("SELECT users.")]


def changed_elsewhere(app, user_id, password_hash=None, announce=True):
    """What another instance's password change does: the row, then the announcement."""
    with app.app_context():
        values = {"token_generation": User.token_generation + 1}
        if password_hash is not None:
            values["password_hash"] = password_hash
        db.session.execute(update(User).where(User.id == user_id).values(**values))
        db.session.commit()
        generation = db.session.get(User, user_id).token_generation
        if announce:
            revocations.announce_generation(user_id, generation, 60)
        return generation


@pytest.fixture(autouse=True)
def forget_announcements():
    yield
    revocations.clear_local()


def test_the_tokens_user_is_read_once_and_then_kept(client, alice, statements):
    for _ in range(3):
        assert client.get("/api/me", headers=alice.headers).status_code == 200
    assert len(user_reads(statements)) == 1, statements


def test_a_password_change_announced_elsewhere_refuses_the_older_token_at_once(
    app, client, alice, statements
):
    assert client.get("/api/me", headers=alice.headers).status_code == 200  # kept
    changed_elsewhere(app, alice.user["id"])
    assert_error(client.get("/api/me", headers=alice.headers), 401, "unauthorized")


def test_a_token_newer_than_the_kept_copy_works_at_once(app, client, alice):
    assert client.get("/api/me", headers=alice.headers).status_code == 200  # kept
    # Changed elsewhere, and its fresh token used here before any announcement.
    changed_elsewhere(app, alice.user["id"], announce=False)
    with app.app_context():
        fresh = issue_token(db.session.get(User, alice.user["id"]))
    response = client.get("/api/me", headers={"Authorization": f"Bearer {fresh}"})
    assert response.status_code == 200, response.get_json()
    # ... and that read showed the older token's end too.
    assert_error(client.get("/api/me", headers=alice.headers), 401, "unauthorized")


def test_an_event_on_a_kept_copy_is_served_until_the_session_check_closes_the_socket(
    app, alice, lounge, socket_for
):
    socket = socket_for(alice)
    assert socket.emit("join", {"room": lounge}, callback=True)["ok"] is True
    changed_elsewhere(app, alice.user["id"], announce=False)  # as if Redis had missed it
    ack = socket.emit("typing", {"room": "lounge", "typing": True}, callback=True)
    assert ack == {"ok": True}, "served from the kept copy (bounded by the check below)"
    with app.app_context():
        assert list(check_open_sockets().values()) == ["revoked"]
    assert socket.events("session_ended") == [{"reason": "revoked"}]


def test_a_password_change_checks_the_stored_password_not_the_kept_copy(app, client, alice):
    assert client.get("/api/me", headers=alice.headers).status_code == 200  # kept
    other = client.post(
        "/api/auth/register", json={"username": "mallory", "password": "mallorys-pass"}
    )
    with app.app_context():
        other_hash = db.session.get(User, other.get_json()["user"]["id"]).password_hash
    # Changed elsewhere (to mallory's password) and not announced: the older token is
    # still taken here, from the kept copy, but the copy's password is not.
    generation = changed_elsewhere(app, alice.user["id"], password_hash=other_hash, announce=False)
    refused = client.put(
        "/api/me/password",
        headers=alice.headers,
        json={"current_password": PASSWORD, "new_password": "whatever-new"},
    )
    assert_error(refused, 422, "validation_error")
    with app.app_context():
        assert db.session.get(User, alice.user["id"]).token_generation == generation


def test_a_kept_copy_holds_no_password_hash_and_reads_it_if_asked(app, client, alice, statements):
    from app.user_cache import users

    assert client.get("/api/me", headers=alice.headers).status_code == 200  # kept
    with app.test_request_context():
        copy = users().user(alice.user["id"], 0)
        del statements[:]
        assert "password_hash" not in copy.__dict__
        assert copy.password_hash.startswith("pbkdf2:")
        assert len(user_reads(statements)) == 1, statements
