"""Socket.IO events through Flask-SocketIO's in-process test client."""

import pytest
from unit_helpers import RecordingSocketClient, assert_error_ack, test_config

from app import chat, create_app
from app.extensions import db
from app.models import User
from app.realtime.server import socketio
from app.realtime.sessions import check_open_sockets


@pytest.fixture
def joined(socket_for, lounge):
    """joined(user) -> a socket that has joined the lounge, its queue emptied."""

    def joined(user):
        sock = socket_for(user)
        ack = sock.emit("join", {"room": lounge}, callback=True)
        assert ack["ok"] is True, ack
        sock.get_received()
        return sock

    return joined


# --- connect --------------------------------------------------------------


def test_connect_with_a_token_in_auth(socket_for, alice):
    assert socket_for(alice).is_connected()


def test_connect_with_a_token_in_the_query_string(socket_for, alice):
    sock = socket_for(auth=None, query_string=f"token={alice.token}")
    assert sock.is_connected()


def test_connect_without_a_token_is_refused_with_the_error_shape(socket_for):
    sock = socket_for(None)
    assert not sock.is_connected()
    [error] = sock.connect_errors
    assert_error_ack(error["data"], "unauthorized")


def test_connect_with_a_bad_token_is_refused_with_the_error_shape(socket_for):
    sock = socket_for(auth={"token": "not-a-token"})
    assert not sock.is_connected()
    [error] = sock.connect_errors
    assert_error_ack(error["data"], "unauthorized")


def test_connect_with_a_non_dict_auth_is_refused(socket_for):
    sock = socket_for(auth="token-as-a-string")
    assert not sock.is_connected()


def test_connect_announces_presence_to_shared_rooms(joined, socket_for, alice, bob):
    watcher = joined(alice)
    socket_for(bob)
    assert watcher.events("presence") == [
        {"room": "lounge", "user": {"username": "bob", "display_name": "Bob"}, "online": True}
    ]


def test_disconnect_announces_offline(joined, socket_for, alice, bob):
    watcher = joined(alice)
    sock = socket_for(bob)
    watcher.get_received()
    sock.disconnect()
    assert watcher.events("presence") == [
        {"room": "lounge", "user": {"username": "bob", "display_name": "Bob"}, "online": False}
    ]


def test_presence_goes_to_rooms_up_to_the_member_limit_and_not_past_it(
    app, joined, socket_for, make_room, join, alice, bob, carol
):
    """The lounge has 2 members, a second room 3: with a limit of 2 only the
    lounge hears bob come online and go offline; the member lists still say it."""
    make_room(alice, "crowd")
    join(bob, "crowd")
    join(carol, "crowd")
    app.config["PRESENCE_MAX_ROOM_MEMBERS"] = 2
    watcher = joined(alice)
    assert watcher.emit("join", {"room": "crowd"}, callback=True)["ok"] is True
    watcher.get_received()
    sock = socket_for(bob)
    assert [e["room"] for e in watcher.events("presence")] == ["lounge"]
    sock.disconnect()
    assert [(e["room"], e["online"]) for e in watcher.events("presence")] == [("lounge", False)]
    app.config["PRESENCE_MAX_ROOM_MEMBERS"] = 0  # no limit
    sock = socket_for(bob)
    assert sorted(e["room"] for e in watcher.events("presence")) == ["crowd", "lounge"]


# --- join / leave ---------------------------------------------------------


def test_join_acks_with_the_room(socket_for, lounge, alice):
    ack = socket_for(alice).emit("join", {"room": "lounge"}, callback=True)
    assert ack["ok"] is True
    assert ack["room"]["name"] == "lounge"
    assert ack["room"]["member"] is True


def test_join_checks_membership_with_the_view_it_answers(socket_for, lounge, alice, statements):
    """A join by a member reads the room with the membership, then the room's view
    as committed now, which is also the check that the member has not left in
    between: two statements (a separate check was a third)."""
    sock = socket_for(alice)
    statements.clear()
    ack = sock.emit("join", {"room": "lounge"}, callback=True)
    assert ack["ok"] is True and ack["room"]["role"] == "owner", ack
    assert len(statements) == 2, statements


def test_join_joins_a_public_room_not_yet_joined(client, socket_for, lounge, carol):
    ack = socket_for(carol).emit("join", {"room": "lounge"}, callback=True)
    assert ack["ok"] is True
    assert ack["room"]["member_count"] == 3
    room = client.get("/api/rooms/lounge", headers=carol.headers).get_json()
    assert room["member"] is True


def test_join_private_room_as_a_non_member_is_not_found(socket_for, make_room, alice, bob):
    make_room(alice, "secret", private=True)
    ack = socket_for(bob).emit("join", {"room": "secret"}, callback=True)
    assert_error_ack(ack, "not_found")


def test_join_private_room_as_a_member(socket_for, make_room, alice):
    make_room(alice, "secret", private=True)
    ack = socket_for(alice).emit("join", {"room": "secret"}, callback=True)
    assert ack["ok"] is True


def test_join_unknown_room_is_not_found(socket_for, alice):
    ack = socket_for(alice).emit("join", {"room": "nowhere"}, callback=True)
    assert_error_ack(ack, "not_found")


def test_private_room_non_member_gets_none_of_its_events(socket_for, make_room, send, alice, bob):
    make_room(alice, "secret", private=True)
    sock = socket_for(bob)
    sock.emit("join", {"room": "secret"}, callback=True)
    sock.get_received()
    send(alice, "secret", "psst")
    assert sock.events("message") == []


def test_leave_acks_ok(joined, alice):
    assert joined(alice).emit("leave", {"room": "lounge"}, callback=True) == {"ok": True}


def test_leave_stops_live_delivery(joined, send, alice, bob):
    sock = joined(alice)
    sock.emit("leave", {"room": "lounge"}, callback=True)
    send(bob, "lounge", "you will not see this live")
    assert sock.events("message") == []


def test_leave_keeps_the_membership(client, joined, alice):
    joined(alice).emit("leave", {"room": "lounge"}, callback=True)
    assert client.get("/api/rooms/lounge", headers=alice.headers).get_json()["member"] is True


def test_rest_leave_stops_live_delivery(client, joined, send, alice, bob):
    sock = joined(bob)
    client.delete("/api/rooms/lounge/members/me", headers=bob.headers)
    send(alice, "lounge", "after bob left")
    assert sock.events("message") == []


# --- send -----------------------------------------------------------------


def test_send_acks_with_the_stored_message(client, joined, alice):
    ack = joined(alice).emit(
        "send", {"room": "lounge", "body": " hi ", "client_id": "c1"}, callback=True
    )
    assert ack["ok"] is True
    message = ack["message"]
    assert (message["room"], message["body"], message["client_id"]) == ("lounge", "hi", "c1")
    history = client.get("/api/rooms/lounge/messages", headers=alice.headers).get_json()
    assert history["messages"] == [message]


def test_send_is_broadcast_to_the_room(joined, alice, bob):
    sender, listener = joined(alice), joined(bob)
    ack = sender.emit("send", {"room": "lounge", "body": "hi", "client_id": "c1"}, callback=True)
    assert listener.events("message") == [ack["message"]]


def test_repeated_client_id_returns_the_first_message_and_broadcasts_nothing(joined, alice, bob):
    sender, listener = joined(alice), joined(bob)
    first = sender.emit("send", {"room": "lounge", "body": "hi", "client_id": "c1"}, callback=True)
    listener.get_received()
    again = sender.emit(
        "send", {"room": "lounge", "body": "hi again", "client_id": "c1"}, callback=True
    )
    assert again == first
    assert listener.events("message") == []


def test_send_to_a_public_room_not_joined_is_forbidden(socket_for, lounge, carol):
    ack = socket_for(carol).emit(
        "send", {"room": "lounge", "body": "hi", "client_id": "c1"}, callback=True
    )
    assert_error_ack(ack, "forbidden")


def test_send_to_a_private_room_not_in_is_not_found(socket_for, make_room, alice, bob):
    make_room(alice, "secret", private=True)
    ack = socket_for(bob).emit(
        "send", {"room": "secret", "body": "hi", "client_id": "c1"}, callback=True
    )
    assert_error_ack(ack, "not_found")


def test_send_past_the_burst_is_rate_limited(joined, alice):
    sock = joined(alice)
    acks = [
        sock.emit("send", {"room": "lounge", "body": f"m{i}", "client_id": f"c{i}"}, callback=True)
        for i in range(21)
    ]
    assert all(ack["ok"] for ack in acks[:20])
    assert_error_ack(acks[20], "rate_limited")


def test_socket_and_rest_sends_share_one_rate_limit(joined, send, alice):
    for i in range(20):
        send(alice, "lounge", f"m{i}")
    ack = joined(alice).emit(
        "send", {"room": "lounge", "body": "hi", "client_id": "c1"}, callback=True
    )
    assert_error_ack(ack, "rate_limited")


@pytest.mark.parametrize(
    "payload, field",
    [
        ({"room": "lounge", "client_id": "c1"}, "body"),
        ({"room": "lounge", "body": "   ", "client_id": "c1"}, "body"),
        ({"room": "lounge", "body": "x" * 4001, "client_id": "c1"}, "body"),
        ({"room": "lounge", "body": 5, "client_id": "c1"}, "body"),
        ({"body": "hi", "client_id": "c1"}, "room"),
        ({"room": "lounge", "body": "hi", "client_id": "c" * 65}, "client_id"),
    ],
)
def test_send_with_an_invalid_payload_is_a_validation_error(joined, alice, payload, field):
    ack = joined(alice).emit("send", payload, callback=True)
    error = assert_error_ack(ack, "validation_error")
    assert field in error["fields"]


def test_send_with_a_non_object_payload_is_a_bad_request(joined, alice):
    assert_error_ack(joined(alice).emit("send", "hello", callback=True), "bad_request")


# --- REST changes delivered live --------------------------------------------


def test_rest_send_is_delivered_live_to_the_room(joined, send, alice, bob):
    sock = joined(bob)
    sent = send(alice, "lounge", "from REST").get_json()
    assert sock.events("message") == [sent]


def test_rest_send_is_not_delivered_to_sockets_outside_the_room(
    socket_for, send, lounge, alice, bob
):
    sock = socket_for(bob)
    sock.get_received()
    send(alice, "lounge", "from REST")
    assert sock.events("message") == []


def test_rest_edit_is_delivered_as_message_edited(client, joined, send, alice, bob):
    sock = joined(bob)
    sent = send(alice, "lounge", "helo").get_json()
    edited = client.patch(
        f"/api/messages/{sent['id']}", headers=alice.headers, json={"body": "hello"}
    ).get_json()
    assert sock.events("message_edited") == [edited]


def test_rest_delete_is_delivered_as_message_deleted(client, joined, send, alice, bob):
    sock = joined(bob)
    sent = send(alice, "lounge", "oops").get_json()
    deleted = client.delete(f"/api/messages/{sent['id']}", headers=alice.headers).get_json()
    [event] = sock.events("message_deleted")
    assert event == deleted
    assert (event["body"], event["deleted"]) == ("", True)


# --- typing ---------------------------------------------------------------


def test_typing_acks_ok_and_reaches_the_others(joined, alice, bob):
    typist, listener = joined(alice), joined(bob)
    assert typist.emit("typing", {"room": "lounge", "typing": True}, callback=True) == {"ok": True}
    assert listener.events("typing") == [
        {"room": "lounge", "user": {"username": "alice", "display_name": "Alice"}, "typing": True}
    ]


def test_typing_is_not_echoed_to_the_typist(joined, alice, bob):
    typist = joined(alice)
    typist.emit("typing", {"room": "lounge", "typing": True}, callback=True)
    assert typist.events("typing") == []


def test_typing_needs_membership(socket_for, lounge, carol):
    ack = socket_for(carol).emit("typing", {"room": "lounge", "typing": True}, callback=True)
    assert_error_ack(ack, "forbidden")


@pytest.mark.parametrize("typing", ["yes", 1, None])
def test_typing_must_be_a_boolean(joined, alice, typing):
    ack = joined(alice).emit("typing", {"room": "lounge", "typing": typing}, callback=True)
    error = assert_error_ack(ack, "validation_error")
    assert "typing" in error["fields"]


# --- read -----------------------------------------------------------------


def test_read_acks_ok_and_moves_the_marker(client, joined, send, alice, bob):
    sock = joined(alice)
    sent = send(bob, "lounge").get_json()
    ack = sock.emit("read", {"room": "lounge", "message_id": sent["id"]}, callback=True)
    assert ack == {"ok": True}
    room = client.get("/api/rooms/lounge", headers=alice.headers).get_json()
    assert (room["last_read_id"], room["unread"]) == (sent["id"], 0)


def test_read_is_broadcast_to_the_room(joined, send, alice, bob):
    reader, listener = joined(alice), joined(bob)
    sent = send(bob, "lounge").get_json()
    listener.get_received()
    reader.emit("read", {"room": "lounge", "message_id": sent["id"]}, callback=True)
    assert listener.events("read") == [
        {"room": "lounge", "username": "alice", "message_id": sent["id"]}
    ]


def test_read_never_moves_back(client, joined, send, alice, bob):
    sock = joined(alice)
    ids = [send(bob, "lounge").get_json()["id"] for _ in range(2)]
    sock.emit("read", {"room": "lounge", "message_id": ids[1]}, callback=True)
    ack = sock.emit("read", {"room": "lounge", "message_id": ids[0]}, callback=True)
    assert ack == {"ok": True}
    assert (
        client.get("/api/rooms/lounge", headers=alice.headers).get_json()["last_read_id"] == ids[1]
    )


def test_read_needs_membership(socket_for, send, lounge, alice, carol):
    sent = send(alice, "lounge").get_json()
    ack = socket_for(carol).emit(
        "read", {"room": "lounge", "message_id": sent["id"]}, callback=True
    )
    assert_error_ack(ack, "forbidden")


def test_read_with_a_string_message_id_is_a_validation_error(joined, alice):
    ack = joined(alice).emit("read", {"room": "lounge", "message_id": "1"}, callback=True)
    error = assert_error_ack(ack, "validation_error")
    assert "message_id" in error["fields"]


# --- sync -----------------------------------------------------------------


def test_sync_returns_what_was_missed_after_an_id(joined, send, alice, bob):
    sock = joined(alice)
    sent = [send(bob, "lounge", f"m{i}").get_json() for i in range(4)]
    ack = sock.emit("sync", {"room": "lounge", "after": sent[1]["id"]}, callback=True)
    assert ack == {"ok": True, "messages": sent[2:], "has_more": False}


def test_sync_pages_with_has_more(joined, send, alice, bob):
    sock = joined(alice)
    sent = [send(bob, "lounge", f"m{i}").get_json() for i in range(4)]
    ack = sock.emit("sync", {"room": "lounge", "after": 0, "limit": 3}, callback=True)
    assert ack["messages"] == sent[:3]
    assert ack["has_more"] is True


def test_sync_reads_its_room_once(joined, send, alice, bob, statements):
    """The membership check reads the room, and the page's messages are shaped
    with it (a page read it a second time, by id, to name it in each message)."""
    sock = joined(alice)
    sent = [send(bob, "lounge", f"m{i}").get_json() for i in range(3)]
    statements.clear()
    ack = sock.emit("sync", {"room": "lounge", "after": 0}, callback=True)
    assert [m["room"] for m in ack["messages"]] == ["lounge"] * len(sent)
    assert sum(" FROM rooms" in s for s in statements) == 1, statements


def test_sync_needs_membership(socket_for, lounge, carol):
    ack = socket_for(carol).emit("sync", {"room": "lounge", "after": 0}, callback=True)
    assert_error_ack(ack, "forbidden")


def test_sync_of_a_private_room_not_in_is_not_found(socket_for, make_room, alice, bob):
    make_room(alice, "secret", private=True)
    ack = socket_for(bob).emit("sync", {"room": "secret", "after": 0}, callback=True)
    assert_error_ack(ack, "not_found")


@pytest.mark.parametrize(
    "payload, field",
    [
        ({"room": "lounge"}, "after"),
        ({"room": "lounge", "after": "5"}, "after"),
        ({"room": "lounge", "after": -1}, "after"),
        ({"room": "lounge", "after": 0, "limit": 101}, "limit"),
    ],
)
def test_sync_with_an_invalid_payload_is_a_validation_error(joined, alice, payload, field):
    error = assert_error_ack(joined(alice).emit("sync", payload, callback=True), "validation_error")
    assert field in error["fields"]


# --- a private room is invisible to non-members ------------------------------


@pytest.mark.parametrize(
    "event, payload",
    [
        ("join", {}),
        ("send", {"body": "hi", "client_id": "c1"}),
        ("typing", {"typing": True}),
        ("read", {"message_id": 1}),
        ("sync", {"after": 0}),
    ],
)
def test_private_room_events_are_not_found_for_non_members(
    socket_for, make_room, send, alice, bob, event, payload
):
    make_room(alice, "secret", private=True)
    send(alice, "secret", "psst")
    ack = socket_for(bob).emit(event, {"room": "secret", **payload}, callback=True)
    assert_error_ack(ack, "not_found")


# --- anything else --------------------------------------------------------


def test_unknown_event_gets_an_error_ack(socket_for, alice):
    ack = socket_for(alice).emit("shout", {"room": "lounge"}, callback=True)
    assert_error_ack(ack, "bad_request")


@pytest.mark.parametrize("event", ["join", "leave", "typing", "read", "sync"])
def test_room_event_without_a_room_is_a_validation_error(socket_for, alice, event):
    error = assert_error_ack(socket_for(alice).emit(event, {}, callback=True), "validation_error")
    assert "room" in error["fields"]


def test_unexpected_failure_is_an_internal_error_ack(joined, alice, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("hunter2")

    monkeypatch.setattr(chat, "set_typing", broken)
    ack = joined(alice).emit("typing", {"room": "lounge", "typing": True}, callback=True)
    error = assert_error_ack(ack, "internal_error")
    assert "hunter2" not in error["message"]


def test_a_user_deleted_by_hand_has_their_sockets_closed_by_the_session_check(
    app, joined, alice, socket_for
):
    """The service never deletes users; one deleted in SQL is known from the cached
    copy (app/user_cache.py) until the periodic check of the open sockets."""
    sock = joined(alice)
    with app.app_context():
        db.session.delete(db.session.get(User, alice.user["id"]))
        db.session.commit()
        assert list(check_open_sockets().values()) == ["revoked"]
    assert sock.events("session_ended") == [{"reason": "revoked"}]
    assert not sock.is_connected()
    refused = socket_for(alice)  # the copy is forgotten: the user is read, and missing
    assert not refused.is_connected()
    assert_error_ack(refused.connect_errors[0]["data"], "unauthorized")


def test_every_app_in_a_process_gets_the_event_handlers(tmp_path):
    for name in ("first", "second"):
        (tmp_path / name).mkdir()
    create_app(test_config(tmp_path / "first"))
    second = create_app(test_config(tmp_path / "second"))
    sock = RecordingSocketClient(second, socketio)
    assert not sock.is_connected()
    assert_error_ack(sock.connect_errors[0]["data"], "unauthorized")


def test_a_new_dm_reaches_the_peers_open_socket_without_a_join(
    client, socket_for, send, alice, bob
):
    sock = socket_for(bob)
    sock.get_received()
    dm = client.post("/api/dm/bob", headers=alice.headers).get_json()
    sent = send(alice, dm["name"], "hello bob").get_json()
    assert sock.events("message") == [sent]


def test_someone_added_to_a_private_room_gets_its_live_events(client, socket_for, send, alice, bob):
    client.post("/api/rooms", json={"name": "secret", "private": True}, headers=alice.headers)
    sock = socket_for(bob)
    sock.get_received()
    client.post("/api/rooms/secret/members", json={"username": "bob"}, headers=alice.headers)
    sent = send(alice, "secret", "welcome").get_json()
    assert sock.events("message") == [sent]
