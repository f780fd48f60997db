"""Real-time chat across the instances of a local cluster (scripts/cluster.py).

One cluster of 4 instances per async mode (eventlet, then gevent), started once
for the module. Clients connect either straight to one instance (to choose where
each socket lives) or through nginx from a chosen loopback source address (to
let ip_hash choose). Every wait polls with a deadline; the only fixed pauses
are short settles (SETTLE) that give a duplicate or a leaked event the time to
show up before a test says it did not.
"""

import json
import signal
import socket
import threading
import time
import uuid

import psycopg2
import pytest
import requests
from socket_clients import PASSWORD, ChatClient, http_session, login, unique_name, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("all_instances_up")]

# Presence expiry shortened from the default 30 s to 9 s, so that the tests that
# kill an instance wait seconds, not half a minute: the dead instance's alive key
# expires within PRESENCE_TTL, and a live instance sweeps it at its next heartbeat
# (every PRESENCE_TTL / 3). Not shorter: restarting an instance takes ~5 s here,
# and the restart test needs that to happen before the dead one's key expires.
PRESENCE_TTL = 9
MAX_UNSENT = 8 * 1024 * 1024
SWEEP_INTERVAL = PRESENCE_TTL / 3
CLUSTER_ENV = {
    "PRESENCE_TTL_SECONDS": str(PRESENCE_TTL),
    # Cheap password hashing and generous limits: the tests register many users
    # from one address and are not about the limits.
    "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000",
    "AUTH_RATE_LIMIT": "10000 per minute",
    "SEND_RATE_LIMIT": "1000 per second",
    # Many sockets of one user in a few tests, each joining (not about these limits).
    "CONNECT_RATE_LIMIT": "1000 per minute",
    "SOCKET_EVENT_RATE_LIMIT": "1000 per second",
    # Sockets whose session ended are looked for every second (default 5).
    "SESSION_CHECK_SECONDS": "1",
    # 8 MiB behind (default 1): the stalled reader's test holds up to 4.8 MB
    # back and must get all of it; the next one goes past this.
    "SOCKET_MAX_UNSENT_BYTES": str(MAX_UNSENT),
    # The interpreter's own thresholds but one, to see the worker apply them.
    "GC_THRESHOLDS": "700,10,11",
}
SESSION_END_BOUND = 5  # seconds for every instance to close an ended session's sockets
INSTANCES = 4
SETTLE = 0.5  # seconds to wait for an event that must NOT arrive
SOURCES = [f"127.0.{n}.1" for n in range(1, 17)]  # 16 different /24s for ip_hash


# --- fixtures -----------------------------------------------------------------


@pytest.fixture(scope="module", params=["eventlet", "gevent"])
def cluster_options(request):
    """A 4-instance cluster behind nginx, in one async mode, for the whole module."""
    return {"instances": INSTANCES, "async_mode": request.param, "extra_env": CLUSTER_ENV}


# --- helpers ------------------------------------------------------------------


def instance_url(cluster, number):
    return cluster.instances[number - 1].url


def client_id():
    return uuid.uuid4().hex


def is_message(message_id):
    return lambda payload: payload["id"] == message_id


def presence_of(room, username, online):
    return lambda p: (
        p["room"] == room and p["user"]["username"] == username and p["online"] is online
    )


def instance_holding(redis_client, sid):
    """The instance a Socket.IO session lives on, as its presence entry in Redis says
    ({presence}:sids:<instance id>#<process incarnation> maps sid -> user id)."""
    for key in redis_client.scan_iter(match="{presence}:sids:*"):
        if redis_client.hexists(key, sid):
            return key.split(":", 2)[2].split("#", 1)[0]
    return None


def assert_error(ack, code):
    assert set(ack) == {"error"}, ack
    assert ack["error"]["code"] == code, ack
    assert isinstance(ack["error"]["message"], str) and ack["error"]["message"], ack


# --- tests --------------------------------------------------------------------


def test_message_sent_on_one_instance_reaches_each_other_instance_exactly_once(
    cluster, user, connect
):
    room = unique_name("fanout")
    author = user()
    author.create_room(room)
    sender = connect(author, 1)
    sender.join(room)
    receivers = []
    for number in (2, 3, 4):
        receiver = connect(user(), number)
        receiver.join(room)
        assert set(receiver.session.instances) == {f"api-{number}"}
        receivers.append(receiver)

    cid = client_id()
    ack = sender.call("send", {"room": room, "body": "hello, every instance", "client_id": cid})

    assert ack["ok"] is True, ack
    message = ack["message"]
    assert isinstance(message["id"], int)
    assert message["body"] == "hello, every instance"
    assert message["client_id"] == cid
    assert message["room"] == room
    assert message["author"]["username"] == author.username
    for receiver in receivers:
        receiver.wait_for("message", is_message(message["id"]))
    time.sleep(SETTLE)  # room for a duplicate to arrive
    for receiver in receivers:
        assert receiver.received("message") == [message], receiver.name


def test_nginx_keeps_each_source_address_on_one_instance_for_every_transport(
    cluster, user, connect, redis_client
):
    account = user()
    room = unique_name("sticky")
    account.create_room(room)

    # REST: several requests from one address are served by one instance, and
    # the 16 addresses together reach all four.
    instance_of = {}
    for source in SOURCES:
        session = http_session(source)
        try:
            for _ in range(3):
                assert session.get(cluster.url + "/healthz", timeout=5).status_code == 200
            me = session.get(
                cluster.url + "/api/me",
                timeout=5,
                headers={"Authorization": f"Bearer {account.token}"},
            )
            assert me.status_code == 200, me.text
        finally:
            session.close()
        assert len(set(session.instances)) == 1, (source, session.instances)
        instance_of[source] = session.instances[0]
    assert set(instance_of.values()) == {f"api-{n}" for n in range(1, INSTANCES + 1)}, instance_of

    # Socket.IO from the same addresses: long-polling only, polling upgraded to
    # WebSocket, and WebSocket only. Each lands on its address's instance.
    clients = []
    for source in SOURCES:
        for transports, expected in (
            (["polling"], "polling"),
            (None, "websocket"),
            (["websocket"], "websocket"),
        ):
            client = connect(account, cluster.url, source=source, transports=transports)
            assert client.transport() == expected, (source, transports)
            clients.append((source, client))
    for source, client in clients:
        client.join(room)
        # The polling requests (handshake, connect, polls) all came from one instance...
        assert set(client.session.instances) <= {instance_of[source]}, (
            source,
            client.session.instances,
        )
        # ...and the session lives there (a WebSocket handshake carries no X-Instance).
        assert instance_holding(redis_client, client.sid) == instance_of[source], source

    # They all keep working after the upgrade: a message reaches every one of them.
    message = account.post_message(room, "to every transport").json()
    for _, client in clients:
        client.wait_for("message", is_message(message["id"]))
    polling = [client for _, client in clients if client.transports == ["polling"]]
    assert all(len(client.session.instances) >= 3 for client in polling)


def test_rest_post_on_one_instance_arrives_live_on_the_others(cluster, user, connect):
    room = unique_name("rest")
    author = user()
    author.create_room(room)
    receivers = []
    for number in (2, 3, 4):
        receiver = connect(user(), number)
        receiver.join(room)
        receivers.append(receiver)

    cid = client_id()
    response = author.post_message(
        room, "posted through REST", client_id=cid, base_url=instance_url(cluster, 1)
    )

    assert response.headers["X-Instance"] == "api-1"
    message = response.json()
    assert message["client_id"] == cid
    for receiver in receivers:
        receiver.wait_for("message", is_message(message["id"]))
    time.sleep(SETTLE)
    for receiver in receivers:
        assert receiver.received("message") == [message], receiver.name


def test_presence_follows_a_users_sockets_across_instances_and_a_killed_instance(
    cluster, user, connect, redis_client
):
    room = unique_name("presence")
    watcher_account = user()
    watcher_account.create_room(room)
    person = user()
    person.join_room(room)
    name = person.username
    members_url = instance_url(cluster, 3)
    watcher = connect(watcher_account, 3)
    watcher.join(room)
    assert watcher_account.members(room, base_url=members_url)[name] is False

    # Connecting on instance 2 makes the person online for a member on instance 3.
    first = connect(person, 2)
    watcher.wait_for("presence", presence_of(room, name, True))
    assert watcher_account.members(room, base_url=members_url)[name] is True

    # Two sockets: closing one keeps the person online.
    second = connect(person, 4)
    first_sid = first.sid
    first.disconnect()
    wait_until(
        lambda: (
            not any(
                m.endswith("|" + first_sid)
                for m in redis_client.smembers(f"{{presence}}:user:{person.user['id']}")
            )
        ),
        message="the first socket's disconnect handled",
    )
    time.sleep(SETTLE)
    assert watcher.received("presence", presence_of(room, name, False)) == []
    assert watcher_account.members(room, base_url=members_url)[name] is True

    # Closing the last socket makes the person offline.
    second.disconnect()
    watcher.wait_for("presence", presence_of(room, name, False))
    assert watcher_account.members(room, base_url=members_url)[name] is False

    # An instance killed outright: its sockets stop counting once its alive key
    # expires and another instance sweeps it.
    watcher.clear()
    connect(person, 2)
    watcher.wait_for("presence", presence_of(room, name, True))
    assert watcher_account.members(room, base_url=members_url)[name] is True
    try:
        cluster.kill_instance(2, signal.SIGKILL)
        killed_at = time.monotonic()
        bound = PRESENCE_TTL + SWEEP_INTERVAL + 2  # expiry + one sweep + slack
        watcher.wait_for("presence", presence_of(room, name, False), timeout=bound)
        assert time.monotonic() - killed_at <= bound
        assert watcher_account.members(room, base_url=members_url)[name] is False
    finally:
        cluster.restart_instance(2)


def test_reconnected_client_gets_exactly_the_missed_messages_from_sync(cluster, user, connect):
    room = unique_name("sync")
    reader_account = user()
    reader_account.create_room(room)
    writer_account = user()
    writer = connect(writer_account, 3)
    writer.join(room)
    reader = connect(reader_account, 1)
    reader.join(room)

    def send(body):
        ack = writer.call("send", {"room": room, "body": body, "client_id": client_id()})
        assert ack["ok"] is True, ack
        return ack["message"]

    seen = [send("before 1"), send("before 2")]
    for message in seen:
        reader.wait_for("message", is_message(message["id"]))
    last_id = max(message["id"] for message in reader.received("message"))
    reader.disconnect()

    missed = [send("missed 1"), send("missed 2"), send("missed 3")]
    missed += [
        writer_account.post_message(
            room, f"missed via REST {n}", base_url=instance_url(cluster, 4)
        ).json()
        for n in (1, 2)
    ]

    again = connect(reader_account, 2)
    again.join(room)
    ack = again.call("sync", {"room": room, "after": last_id})

    assert ack["ok"] is True, ack
    assert ack["has_more"] is False
    ids = [message["id"] for message in ack["messages"]]
    assert ids == sorted(set(ids)), "ordered by id, no duplicates"
    assert ids == [message["id"] for message in missed]
    assert [m["body"] for m in ack["messages"]] == [m["body"] for m in missed]
    assert [m["id"] for m in reader.received("message")] == [m["id"] for m in seen]


def test_typing_and_read_events_reach_other_instances(cluster, user, connect):
    room = unique_name("typing")
    typist_account = user()
    typist_account.create_room(room)
    other_account = user()
    typist = connect(typist_account, 1)
    typist.join(room)
    other = connect(other_account, 2)
    other.join(room)
    author = {
        "username": typist_account.username,
        "display_name": typist_account.user["display_name"],
    }

    assert typist.call("typing", {"room": room, "typing": True}) == {"ok": True}
    assert other.wait_for("typing", lambda p: p["typing"] is True) == {
        "room": room,
        "user": author,
        "typing": True,
    }
    assert typist.call("typing", {"room": room, "typing": False}) == {"ok": True}
    other.wait_for("typing", lambda p: p["typing"] is False)

    message = other_account.post_message(room, "read me", base_url=instance_url(cluster, 3)).json()
    typist.wait_for("message", is_message(message["id"]))
    assert typist.call("read", {"room": room, "message_id": message["id"]}) == {"ok": True}
    assert other.wait_for("read") == {
        "room": room,
        "username": typist_account.username,
        "message_id": message["id"],
    }
    time.sleep(SETTLE)
    assert typist.received("typing") == [], "the typist's own socket is skipped"


def test_private_room_non_member_receives_nothing_from_it(cluster, user, connect):
    room = unique_name("private")
    owner_account = user()
    owner_account.create_room(room, private=True)
    member_account = user()
    owner_account.add_member(room, member_account.username)
    outsider = connect(user(), 3)

    assert_error(outsider.call("join", {"room": room}), "not_found")
    assert_error(outsider.call("typing", {"room": room, "typing": True}), "not_found")
    assert_error(
        outsider.call("send", {"room": room, "body": "let me in", "client_id": client_id()}),
        "not_found",
    )
    assert_error(outsider.call("sync", {"room": room, "after": 0}), "not_found")

    # The members see the room's events (so they were emitted) while the outsider
    # sees none: presence, typing, a message and a read.
    owner = connect(owner_account, 1)
    owner.join(room)
    member = connect(member_account, 2)
    owner.wait_for("presence", presence_of(room, member_account.username, True))
    member.join(room)
    owner.call("typing", {"room": room, "typing": True})
    member.wait_for("typing")
    ack = owner.call("send", {"room": room, "body": "members only", "client_id": client_id()})
    assert ack["ok"] is True, ack
    member.wait_for("message", is_message(ack["message"]["id"]))
    member.call("read", {"room": room, "message_id": ack["message"]["id"]})
    owner.wait_for("read")
    time.sleep(SETTLE)

    assert outsider.events == []


def test_repeated_client_id_returns_the_first_message_and_broadcasts_nothing(
    cluster, user, connect
):
    room = unique_name("idem")
    author = user()
    author.create_room(room)
    sender = connect(author, 1)
    sender.join(room)
    receiver = connect(user(), 3)
    receiver.join(room)
    cid = client_id()

    first = sender.call("send", {"room": room, "body": "only once", "client_id": cid})
    assert first["ok"] is True, first
    receiver.wait_for("message", is_message(first["message"]["id"]))
    sender.wait_for("message", is_message(first["message"]["id"]))
    again = sender.call("send", {"room": room, "body": "a retry", "client_id": cid})

    assert again == first
    time.sleep(SETTLE)
    assert receiver.received("message") == [first["message"]]
    assert sender.received("message") == [first["message"]]
    history = author.request("GET", f"/api/rooms/{room}/messages").json()["messages"]
    assert [m["id"] for m in history if m["client_id"] == cid] == [first["message"]["id"]]


def store_as_a_dead_instance_would(cluster, room, author, body, cid):
    """A send's commit with no broadcast after it: what an instance killed between
    the two leaves behind. Returns the message's id."""
    with psycopg2.connect(cluster.database_url) as conn, conn.cursor() as cursor:
        cursor.execute(
            "INSERT INTO messages (room_id, author_id, body, client_id, created_at) "
            "SELECT r.id, u.id, %s, %s, now() FROM rooms r, users u "
            "WHERE r.name = %s AND u.username = %s RETURNING id",
            (body, cid, room, author.username),
        )
        return cursor.fetchone()[0]


def test_a_retry_broadcasts_a_stored_message_whose_first_broadcast_never_went_out(
    cluster, user, connect
):
    """The sender's retry, through another instance, finds the message stored but
    never broadcast, and broadcasts it, with its mention: once, on every instance.
    A further retry broadcasts nothing (docs/api.md, "Sending")."""
    room = unique_name("orphan")
    author, reader = user(), user()
    author.create_room(room)
    reader.join_room(room)
    sender = connect(author, 2)
    sender.join(room)
    watchers = [connect(reader, n) for n in (1, 3, 4)]
    for watcher in watchers:
        watcher.join(room)
    cid = client_id()
    body = f"stored, never sent, @{reader.username}"
    stored = store_as_a_dead_instance_would(cluster, room, author, body, cid)

    retry = sender.call("send", {"room": room, "body": body, "client_id": cid})
    assert retry["ok"] is True and retry["message"]["id"] == stored, retry
    for client in (sender, *watchers):
        client.wait_for("message", is_message(stored))
    for watcher in watchers:
        watcher.wait_for("mention", lambda p: p["message"]["id"] == stored)
    # Again, over Socket.IO and over REST through other instances: nothing more.
    assert sender.call("send", {"room": room, "body": body, "client_id": cid}) == retry
    response = author.request(
        "POST",
        f"/api/rooms/{room}/messages",
        base_url=instance_url(cluster, 3),
        json={"body": body, "client_id": cid},
    )
    assert response.status_code == 200 and response.json()["id"] == stored, response.text
    time.sleep(SETTLE)
    for client in (sender, *watchers):
        assert [m["id"] for m in client.received("message")] == [stored], client
    for watcher in watchers:
        assert len(watcher.received("mention")) == 1, watcher


def test_send_waiting_on_a_row_lock_does_not_block_its_instance(cluster, user, connect):
    """psycopg2 waits cooperatively: a send stuck on the room's row lock leaves the
    rest of its instance answering, in both async modes.

    Under gevent this rests on psycogreen's patch in wsgi.py (without it /healthz
    hangs here); under eventlet, eventlet's own monkey_patch() greens psycopg2 as
    well, so this shows the behaviour rather than which patch provides it.
    """
    number = 2
    url = instance_url(cluster, number)
    room = unique_name("lock")
    account = user()
    account.create_room(room)
    sender = connect(account, number)
    sender.join(room)

    holder = psycopg2.connect(cluster.database_url)
    observer = psycopg2.connect(cluster.database_url)
    observer.autocommit = True
    acks = []
    acked = threading.Event()
    try:
        with holder.cursor() as cursor:  # psycopg2 opens the transaction (BEGIN) itself
            cursor.execute("SELECT id FROM rooms WHERE name = %s FOR UPDATE", (room,))
        sender.sio.emit(
            "send",
            {"room": room, "body": "after the lock", "client_id": client_id()},
            callback=lambda ack: (acks.append(ack), acked.set()),
        )

        def send_is_blocked_on_the_lock():
            with observer.cursor() as cursor:
                cursor.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE %s = ANY(pg_blocking_pids(pid))",
                    (holder.get_backend_pid(),),
                )
                return cursor.fetchone()[0] > 0

        wait_until(send_is_blocked_on_the_lock, message="the send waiting on the row lock")

        for path, headers in (
            ("/healthz", {}),
            ("/api/me", {"Authorization": f"Bearer {account.token}"}),
        ):
            started = time.monotonic()
            response = requests.get(url + path, headers=headers, timeout=5)
            elapsed = time.monotonic() - started
            assert response.status_code == 200, (path, response.text)
            assert response.headers["X-Instance"] == f"api-{number}"
            assert elapsed < 1.0, f"{path} took {elapsed:.2f}s while a send waited on a lock"
        assert not acked.is_set(), acks
        assert send_is_blocked_on_the_lock()
    finally:
        holder.rollback()
        holder.close()
        observer.close()

    assert acked.wait(10), "the send did not complete after the lock was released"
    assert acks[0]["ok"] is True, acks
    assert acks[0]["message"]["body"] == "after the lock"


def test_instance_restarted_right_after_a_crash_does_not_revive_its_dead_sockets(
    cluster, user, connect
):
    room = unique_name("ghost")
    watcher_account = user()
    watcher_account.create_room(room)
    person = user()
    person.join_room(room)
    watcher = connect(watcher_account, 3)
    watcher.join(room)
    connect(person, 2)
    watcher.wait_for("presence", presence_of(room, person.username, True))

    # Back under the same id, with sockets of its own again (so it refreshes its
    # presence), before the dead process's alive key expires: at the earliest
    # PRESENCE_TTL - SWEEP_INTERVAL after the kill.
    cluster.kill_instance(2, signal.SIGKILL)
    killed_at = time.monotonic()
    cluster.restart_instance(2)
    connect(user(), 2)

    bound = PRESENCE_TTL + SWEEP_INTERVAL + 2
    watcher.wait_for(
        "presence",
        presence_of(room, person.username, False),
        timeout=max(0.1, bound - (time.monotonic() - killed_at)),
    )
    assert (
        watcher_account.members(room, base_url=instance_url(cluster, 3))[person.username] is False
    )


# --- sessions end on every instance ----------------------------------------------


def test_logout_on_one_instance_closes_that_tokens_sockets_on_every_other(cluster, user, connect):
    alice = user()
    second = login(cluster.url, alice.username)  # another session of the same user
    sockets = [connect(alice, n) for n in (2, 3, 4)]
    other = connect(second, 3)
    response = alice.request("POST", "/api/auth/logout", base_url=instance_url(cluster, 1))
    assert response.status_code == 204
    for sock in sockets:
        assert sock.wait_for("session_ended", timeout=SESSION_END_BOUND) == {"reason": "logged_out"}
        assert sock.disconnected.wait(5), sock
    for n in (1, 2, 3, 4):  # the token is refused everywhere at once
        assert alice.request("GET", "/api/me", base_url=instance_url(cluster, n)).status_code == 401
    time.sleep(SETTLE)
    assert other.sio.connected and not other.received("session_ended")
    second.session.close()


def test_password_change_closes_every_older_socket_on_every_instance(cluster, user, connect):
    alice = user()
    sockets = [connect(alice, n) for n in (1, 2, 3, 4)]
    for n in (1, 2, 3, 4):  # every instance keeps a copy of alice (app/user_cache.py)
        assert alice.request("GET", "/api/me", base_url=instance_url(cluster, n)).status_code == 200
    response = alice.request(
        "PUT",
        "/api/me/password",
        base_url=instance_url(cluster, 2),
        json={"current_password": PASSWORD, "new_password": "another-password"},
    )
    assert response.status_code == 200, response.text
    fresh = response.json()["token"]
    for n in (1, 2, 3, 4):  # the older token is refused everywhere at once, the fresh taken
        assert alice.request("GET", "/api/me", base_url=instance_url(cluster, n)).status_code == 401
        assert (
            requests.get(
                instance_url(cluster, n) + "/api/me",
                timeout=10,
                headers={"Authorization": f"Bearer {fresh}"},
            ).status_code
            == 200
        )
    for sock in sockets:
        assert sock.wait_for("session_ended", timeout=SESSION_END_BOUND) == {"reason": "revoked"}
    survivor = ChatClient(instance_url(cluster, 4), fresh, name="fresh").connect()
    try:
        time.sleep(SESSION_END_BOUND / 2)
        assert survivor.sio.connected and not survivor.received("session_ended")
    finally:
        survivor.disconnect()


def test_room_creation_is_limited_cluster_wide(cluster, user):
    alice = user()
    created = [
        alice.request(
            "POST",
            "/api/rooms",
            base_url=instance_url(cluster, 1 + n % 4),
            json={"name": unique_name("flood")},
        ).status_code
        for n in range(21)
    ]
    assert created[:20] == [201] * 20
    assert created[20] == 429


# --- how frames leave an instance (app/library_hooks/engineio_sockets.py) ------


def metric(cluster, number, name):
    """A figure from one instance's /metrics (straight to the instance, not nginx)."""
    text = requests.get(instance_url(cluster, number) + "/metrics", timeout=10).text
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"{name} is not in /metrics of instance {number}")


def test_websockets_are_written_directly_and_polling_by_the_library(cluster, user, connect):
    """Fails if python-engineio stops creating its sockets through engineio.socket.Socket
    (the hook in engineio_sockets.install()): the count would stay 0."""
    direct = lambda: metric(cluster, 2, "chat_socketio_direct_websockets")  # noqa: E731
    before = direct()
    websockets = [connect(user(), 2) for _ in range(3)]
    polling = connect(user(), 2, transports=["polling"])
    assert all(c.transport() == "websocket" for c in websockets)
    assert polling.transport() == "polling"

    wait_until(lambda: direct() == before + 3, message="3 direct sockets")
    for client in websockets:
        client.disconnect()
    wait_until(lambda: direct() == before, message="direct sockets back to before")


def test_the_worker_freezes_what_it_loaded_at_start(cluster):
    """post_worker_init (app/gunicorn_conf.py) moves the loaded app out of the garbage
    collector's way; without it the count is 0."""
    assert metric(cluster, 1, "chat_gc_frozen_objects") > 50_000


def test_the_worker_times_its_collections_and_leaves_them_to_the_interpreter(cluster):
    """Every collection of a real worker is timed (chat_gc_pause_seconds, and
    its CPU in chat_gc_cpu_seconds), and app/collector.py is not installed
    unless GC_DEEP_GROWTH asks for it (its gauge would read the factor)."""
    assert metric(cluster, 1, 'chat_gc_pause_seconds_count{generation="0"}') > 0
    assert metric(cluster, 1, 'chat_gc_cpu_seconds_total{generation="0"}') > 0
    assert metric(cluster, 1, "chat_gc_deep_growth") == 0
    thresholds = [metric(cluster, 1, f'chat_gc_threshold{{generation="{g}"}}') for g in range(3)]
    assert thresholds == [700, 10, 11]  # GC_THRESHOLDS in CLUSTER_ENV


FILLER = "\U0001f600" * 3995  # an emoji: 4 bytes in UTF-8, 12 as a JSON escape pair


def raw_connect(receive, send, token):
    """A raw WebSocket client's Engine.IO OPEN and Socket.IO CONNECT with `token`."""
    assert receive().startswith("0{")  # Engine.IO OPEN
    send("40" + json.dumps({"token": token}))
    assert receive().startswith("40{")  # Socket.IO CONNECT


def raw_join(receive, send, room):
    """A raw client's `join` (ack id 1), answered ok."""
    send("421" + json.dumps(["join", {"room": room}]))
    while True:  # events of other rooms may come first
        frame = receive()
        if frame.startswith("431"):
            assert json.loads(frame[3:])[0].get("ok") is True, frame
            return


def raw_messages(receive, send, count, timeout):
    """The next `count` Socket.IO `message` events of a raw client that reads one
    Engine.IO packet with receive() and writes one with send(), answering pings."""
    bodies = []
    deadline = time.monotonic() + timeout
    while len(bodies) < count:
        assert time.monotonic() < deadline, f"{len(bodies)} of {count} messages"
        frame = receive()
        if frame == "2":
            send("3")
        elif frame.startswith("42"):
            event, payload = json.loads(frame[2:])
            if event == "message":
                bodies.append(payload)
    return bodies


class StalledReader:
    """A raw Engine.IO/Socket.IO client over a WebSocket that stops reading.

    Its receive buffer is made small so that an instance's writes to it soon find
    the kernel full: what follows is held by the instance, not by the kernel.
    """

    def __init__(self, url, token):
        import websocket

        ws_url = url.replace("http://", "ws://") + "/socket.io/?EIO=4&transport=websocket"
        self.ws = websocket.create_connection(
            ws_url, timeout=10, sockopt=[(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)]
        )
        raw_connect(self.ws.recv, self.ws.send, token)

    def join(self, room):
        raw_join(self.ws.recv, self.ws.send, room)

    def messages(self, count, timeout=60):
        """The next `count` Socket.IO `message` events, in order (answering pings)."""
        return raw_messages(self.ws.recv, self.ws.send, count, timeout)

    def until_closed(self, timeout=60):
        """The `message` events left before the server's close; raises if the
        socket is still open after `timeout` seconds of reading."""
        import websocket

        bodies = []
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                frame = self.ws.recv()
                if frame == "":
                    return bodies  # the server shut the connection down
                if frame.startswith("42"):
                    event, payload = json.loads(frame[2:])
                    if event == "message":
                        bodies.append(payload)
        except (websocket.WebSocketConnectionClosedException, ConnectionError):
            return bodies
        raise AssertionError(f"still open after {timeout} s ({len(bodies)} messages read)")

    def close(self):
        self.ws.close()


def stalled_room(cluster, user, connect, prefix):
    """A new room with a StalledReader and a lively socket in it, both on instance 3:
    (room, its author, the reader's account, the StalledReader, the lively client)."""
    room = unique_name(prefix)
    author = user()
    author.create_room(room)
    reader = user()
    stalled = StalledReader(instance_url(cluster, 3), reader.token)
    try:
        stalled.join(room)
        lively = connect(user(), 3)
        lively.join(room)
    except BaseException:
        stalled.close()
        raise
    return room, author, reader, stalled, lively


def post_filler(cluster, author, room, number):
    """Posts message `number` of FILLER through instance 1; returns its id."""
    return author.post_message(
        room, f"{number:04d} " + FILLER, client_id=client_id(), base_url=instance_url(cluster, 1)
    ).json()["id"]


def test_a_client_that_stops_reading_stalls_only_itself_and_then_gets_everything_in_order(
    cluster, cluster_options, user, connect
):
    room, author, _, stalled, lively = stalled_room(cluster, user, connect, "stall")
    try:
        deferred_before = metric(cluster, 3, "chat_socketio_deferred_frames")

        # 100 messages of 4,000 characters, 4 bytes each in UTF-8: 1.6 MB or more (4.8 as
        # JSON escapes) for the stalled socket, more than the kernel's buffers take here.
        sent = []
        for n in range(100):
            sent.append(post_filler(cluster, author, room, n))
            # The instance keeps serving its other socket while one is stalled.
            if n % 25 == 24:
                lively.wait_for("message", is_message(sent[-1]), timeout=5)

        if cluster_options["async_mode"] == "eventlet":
            assert metric(cluster, 3, "chat_socketio_deferred_frames") > deferred_before
        got = stalled.messages(100)
        assert [m["id"] for m in got] == sent
        assert all(m["body"] == f"{n:04d} " + FILLER for n, m in enumerate(got))
    finally:
        stalled.close()


def test_a_client_that_falls_too_far_behind_is_dropped_and_catches_up_by_history(
    cluster, user, connect
):
    """Past SOCKET_MAX_UNSENT_BYTES waiting for it, a socket that does not read is
    dropped (its frames with it) instead of held until its pings time out; the
    instance goes on serving the room, and the client finds what it missed in the
    history, in order."""
    room, author, reader, stalled, lively = stalled_room(cluster, user, connect, "behind")
    try:
        dropped_before = metric(cluster, 3, "chat_socketio_dropped_behind")

        # 48 KB of JSON a message: the cap plus what the kernels take (a few MB)
        # is passed within about 300 messages; 600 is the bound.
        sent = []
        while metric(cluster, 3, "chat_socketio_dropped_behind") == dropped_before:
            assert len(sent) < 600, f"not dropped after {len(sent)} messages"
            for _ in range(25):
                sent.append(post_filler(cluster, author, room, len(sent)))
            lively.wait_for("message", is_message(sent[-1]), timeout=10)
        assert len(sent) * len(json.dumps(FILLER)) > MAX_UNSENT

        # The client reads what reached it before the drop, then the connection ends.
        got = stalled.until_closed()
        assert [m["id"] for m in got] == sent[: len(got)]
        assert len(got) < len(sent)
        # The room goes on for everyone else.
        last = author.post_message(
            room, "after the drop", client_id=client_id(), base_url=instance_url(cluster, 1)
        ).json()["id"]
        lively.wait_for("message", is_message(last), timeout=10)
        # Nothing is lost: the history after the last message it had holds the rest.
        missed, after = [], got[-1]["id"] if got else 0
        while True:
            page = reader.request(
                "GET", f"/api/rooms/{room}/messages", params={"after": after, "limit": 100}
            )
            assert page.status_code == 200, page.text
            batch = page.json()["messages"]
            if not batch:
                break
            missed += [m["id"] for m in batch]
            after = batch[-1]["id"]
        assert missed == sent[len(got) :] + [last]
    finally:
        stalled.close()


class PollingReader:
    """A raw Engine.IO long-polling client, straight to one instance, that polls
    only when asked: between two polls, what is sent to it waits on its queue."""

    def __init__(self, url, token):
        self.http = requests.Session()
        base = url + "/socket.io/?EIO=4&transport=polling"
        opened = self.http.get(base, timeout=10).text
        assert opened.startswith("0{"), opened  # Engine.IO OPEN
        self.url = f"{base}&sid={json.loads(opened[1:])['sid']}"
        self.post("40" + json.dumps({"token": token}))
        self.until(lambda packet: packet.startswith("40{"))  # Socket.IO CONNECT

    def post(self, packet):
        response = self.http.post(self.url, data=packet.encode(), timeout=10)
        assert response.status_code == 200, response.text

    def poll(self):
        return self.http.get(self.url, timeout=30)

    def until(self, predicate, timeout=10):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            response = self.poll()
            assert response.status_code == 200, response.text
            for packet in response.text.split("\x1e"):  # packets of one poll
                if packet == "2":
                    self.post("3")
                elif predicate(packet):
                    return packet
        raise AssertionError(f"no such packet within {timeout} s")

    def join(self, room):
        self.post("421" + json.dumps(["join", {"room": room}]))
        ack = self.until(lambda packet: packet.startswith("431"))
        assert json.loads(ack[3:])[0].get("ok") is True, ack


def test_a_polling_client_that_stops_polling_is_dropped_past_the_cap(cluster, user):
    """The long-polling transport has the same cap: what waits on the queue for
    a client that does not poll (after the first packet) is counted, and past
    SOCKET_MAX_UNSENT_BYTES the session ends; its next poll is refused."""
    room = unique_name("unpolled")
    author = user()
    author.create_room(room)
    reader = PollingReader(instance_url(cluster, 3), user().token)
    reader.join(room)
    dropped_before = metric(cluster, 3, "chat_socketio_dropped_behind")
    sent = 0
    while metric(cluster, 3, "chat_socketio_dropped_behind") == dropped_before:
        assert sent < 400, f"not dropped after {sent} messages"
        for _ in range(25):
            post_filler(cluster, author, room, sent)
            sent += 1
    # 48 KB a message as JSON escapes (the queue counts a packet's characters).
    assert sent * len(json.dumps(FILLER)) > MAX_UNSENT
    # What waited was dropped with the session: a poll made while the server
    # still closes it gets no message, and the next one is refused.
    for _ in range(3):
        response = reader.poll()
        if response.status_code == 400:
            break
        assert response.status_code == 200 and '"message"' not in response.text, (
            response.status_code,
            response.text[:200],
        )
    else:
        raise AssertionError("the session still answers polls")


class CompressingClient:
    """A raw Engine.IO/Socket.IO client on wsproto, which offers permessage-deflate
    (as browsers do): what the server writes to it must be compressed for this one
    socket, in order. Counts the bytes that came off the wire."""

    def __init__(self, url, token):
        from urllib.parse import urlsplit

        from wsproto import ConnectionType, WSConnection
        from wsproto.events import Request
        from wsproto.extensions import PerMessageDeflate

        parts = urlsplit(url)
        self.sock = socket.create_connection((parts.hostname, parts.port), timeout=10)
        self.ws = WSConnection(ConnectionType.CLIENT)
        self.wire_bytes = 0
        self.accepted = None
        self.texts, self._partial = [], ""
        self.sock.sendall(
            self.ws.send(
                Request(
                    host=parts.netloc,
                    target="/socket.io/?EIO=4&transport=websocket",
                    extensions=[PerMessageDeflate()],
                )
            )
        )
        while self.accepted is None:
            self._pump()
        raw_connect(self.text, self.send, token)

    def _pump(self):
        from wsproto.events import AcceptConnection, Ping, RejectConnection, TextMessage

        data = self.sock.recv(65536)
        assert data, "the server closed the connection"
        self.wire_bytes += len(data)
        self.ws.receive_data(data)
        for event in self.ws.events():
            if isinstance(event, AcceptConnection):
                self.accepted = event
            elif isinstance(event, RejectConnection):
                raise AssertionError(f"WebSocket refused: {event}")
            elif isinstance(event, Ping):
                self.sock.sendall(self.ws.send(event.response()))
            elif isinstance(event, TextMessage):
                self._partial += event.data
                if event.message_finished:
                    self.texts.append(self._partial)
                    self._partial = ""

    def negotiated(self):
        return [e.name for e in self.accepted.extensions]

    def text(self):
        while not self.texts:
            self._pump()
        return self.texts.pop(0)

    def send(self, text):
        from wsproto.events import TextMessage

        self.sock.sendall(self.ws.send(TextMessage(data=text)))

    def join(self, room):
        raw_join(self.text, self.send, room)

    def messages(self, count, timeout=30):
        return raw_messages(self.text, self.send, count, timeout)

    def close(self):
        self.sock.close()


def test_clients_that_negotiate_compression_get_every_message_compressed_whole_and_in_order(
    cluster, user
):
    """permessage-deflate: a frame is compressed for each socket (its own
    compressor), not shared by the room's sockets as an uncompressed one is."""
    room = unique_name("deflate")
    author = user()
    author.create_room(room)
    clients = [CompressingClient(instance_url(cluster, 2), user().token) for _ in range(2)]
    try:
        for client in clients:
            assert client.negotiated() == ["permessage-deflate"]
            client.join(room)
        before = [client.wire_bytes for client in clients]
        bodies = [f"{n:03d} " + "compressible text" * 200 for n in range(30)]
        sent = [
            author.post_message(
                room, body, client_id=client_id(), base_url=instance_url(cluster, 1)
            ).json()["id"]
            for body in bodies
        ]
        for client, start in zip(clients, before):
            got = client.messages(len(sent))
            assert [m["id"] for m in got] == sent
            assert [m["body"] for m in got] == bodies
            # 30 messages of 3.6 KB each took far less on the wire: compressed.
            assert client.wire_bytes - start < sum(map(len, bodies)) / 4
    finally:
        for client in clients:
            client.close()
