"""The session check's passes (app/realtime/sessions.py) on PostgreSQL and a real
Redis: between full passes a pass reads only the feed of announced logouts and
password changes (no SQL, nothing per socket); a full pass runs at start, every
SESSION_FULL_CHECK_SECONDS and whenever the feed cannot tell."""

import socket
import time

import pytest
import redis
from flask_migrate import upgrade

from app import auth
from app.realtime import sessions
from app.realtime.server import socketio
from app.realtime.sessions import SessionChecks
from app.revocations import FEED, revocations

PASSWORD = "password123"
NAMES = ("alice", "bob", "carol")


@pytest.fixture
def app(make_app, database, redis_server):
    app = make_app(database.url)
    with app.app_context():
        upgrade()
    # Logouts, generations and the feed read REDIS_URL when they run; the app was
    # made without it so that its Socket.IO test clients need no message queue.
    app.config["REDIS_URL"] = redis_server.url()
    r = redis.Redis.from_url(redis_server.url())
    r.flushall()
    r.close()
    revocations.clear_local()
    yield app
    revocations.clear_local()


@pytest.fixture
def people(app):
    """{name: (token, test client, sid)} for alice, bob and carol, each connected."""
    client = app.test_client()
    found = {}
    for name in NAMES:
        response = client.post("/api/auth/register", json={"username": name, "password": PASSWORD})
        assert response.status_code == 201, response.get_json()
        token = response.get_json()["token"]
        before = set(sessions._open)
        sock = socketio.test_client(app, auth={"token": token})
        assert sock.is_connected()
        (sid,) = set(sessions._open) - before
        found[name] = (token, sock, sid)
    yield found
    for _, sock, _ in found.values():
        if sock.is_connected():
            sock.disconnect()


def ended_of(ended, people):
    """{name: reason} of these people's sockets among a pass's `ended`."""
    return {name: ended[sid] for name, (_, _, sid) in people.items() if sid in ended}


def connected(people):
    return {name for name, (_, sock, _) in people.items() if sock.is_connected()}


def step(app, checks):
    with app.app_context():
        return checks.step()


def claims_of(app, token):
    with app.app_context():
        return auth.read_token(token)


def test_a_pass_between_full_ones_reads_the_feed_only(app, people, statements):
    checks = SessionChecks(full_every=3600)
    step(app, checks)
    assert (checks.full_passes, checks.feed_passes) == (1, 0)
    del statements[:]
    assert ended_of(step(app, checks), people) == {}
    assert (checks.full_passes, checks.feed_passes) == (1, 1)
    assert statements == []
    assert connected(people) == set(NAMES)


def test_a_logout_announced_elsewhere_ends_that_token_in_the_next_feed_pass(
    app, people, statements
):
    checks = SessionChecks(full_every=3600)
    step(app, checks)
    claims = claims_of(app, people["alice"][0])
    with app.app_context():
        revocations.revoke(claims.token_id, claims.expires_at)
    revocations.clear_local()  # as on another instance, which has not seen it
    del statements[:]
    assert ended_of(step(app, checks), people) == {"alice": "logged_out"}
    assert checks.feed_passes == 1
    # Only the closed socket's own leaving reads the database (its presence).
    assert not [s for s in statements if "token_generation" in s], statements
    assert connected(people) == {"bob", "carol"}
    assert revocations.known_revoked(claims.token_id)  # an event is refused at once too


def test_a_password_change_announced_elsewhere_ends_the_older_tokens(app, people, database):
    checks = SessionChecks(full_every=3600)
    step(app, checks)
    database.psql("UPDATE users SET token_generation = 1 WHERE username = 'bob'")
    bob_id = claims_of(app, people["bob"][0]).user_id
    with app.app_context():
        revocations.announce_generation(bob_id, 1, 60)
    revocations.clear_local()
    assert ended_of(step(app, checks), people) == {"bob": "revoked"}
    assert checks.feed_passes == 1
    assert connected(people) == {"alice", "carol"}


def test_a_change_nobody_announced_is_seen_by_the_next_full_pass(app, people, database):
    checks = SessionChecks(full_every=1.0)
    step(app, checks)
    database.psql("UPDATE users SET token_generation = 4 WHERE username = 'carol'")
    assert ended_of(step(app, checks), people) == {}  # the feed does not know
    assert checks.feed_passes == 1
    time.sleep(1.1)
    assert ended_of(step(app, checks), people) == {"carol": "revoked"}
    assert checks.full_passes == 2
    assert connected(people) == {"alice", "bob"}


def test_a_feed_trimmed_past_the_last_entry_read_makes_the_pass_a_full_one(
    app, people, database, redis_server
):
    with app.app_context():
        revocations.revoke("some-other-token", time.time() + 60)  # the feed is not empty
    checks = SessionChecks(full_every=3600)
    step(app, checks)
    assert checks.position != "0-0"
    r = redis.Redis.from_url(redis_server.url())
    r.delete(FEED)  # as a Redis restarted without persistence would have it
    r.close()
    database.psql("UPDATE users SET token_generation = 2 WHERE username = 'alice'")
    assert ended_of(step(app, checks), people) == {"alice": "revoked"}
    assert (checks.full_passes, checks.feed_passes) == (2, 0)


def test_without_a_reachable_redis_every_pass_is_a_full_one(app, people, database):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    app.config["REDIS_URL"] = f"redis://127.0.0.1:{closed}/0"
    checks = SessionChecks(full_every=3600)
    step(app, checks)
    database.psql("UPDATE users SET token_generation = 5 WHERE username = 'bob'")
    assert ended_of(step(app, checks), people) == {"bob": "revoked"}
    assert (checks.full_passes, checks.feed_passes) == (2, 0)
