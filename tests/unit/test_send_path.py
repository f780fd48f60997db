"""The send path's order and data flow: the send limit is counted before the
room's row lock is taken, and the message is shaped once, handed explicitly to
the broadcast, the mentions and the reply (nothing rides in flask.g)."""

import flask

from app import schemas
from app.chat import messages


def test_the_send_limit_is_counted_before_the_rooms_row_lock_is_taken(
    send, lounge, alice, monkeypatch
):
    calls = []
    check_allowed, room_for_send = messages.check_allowed, messages.room_for_send

    def counting(action, user_id, *args, **kwargs):
        calls.append(f"limit:{action}")
        return check_allowed(action, user_id, *args, **kwargs)

    def locking(*args, **kwargs):
        calls.append("lock")
        return room_for_send(*args, **kwargs)

    monkeypatch.setattr(messages, "check_allowed", counting)
    monkeypatch.setattr(messages, "room_for_send", locking)
    assert send(alice, lounge, "hello").status_code == 201
    assert calls == ["limit:send", "lock"]


def test_a_refused_send_stores_nothing_and_a_retry_of_a_stored_one_counts_too(
    send, lounge, alice, client
):
    send(alice, lounge, "kept", client_id="k1")
    for i in range(25):
        send(alice, lounge, f"m{i}")
    assert send(alice, lounge, "over", client_id="k2").status_code == 429
    # A repeat is refused like any try past the limit (it would take the room's lock).
    assert send(alice, lounge, "kept", client_id="k1").status_code == 429
    history = client.get("/api/rooms/lounge/messages", headers=alice.headers).get_json()
    assert "over" not in [m["body"] for m in history["messages"]]


def test_a_send_shapes_its_message_once_for_the_broadcast_the_mentions_and_the_reply(
    app, send, lounge, alice, bob, socket_for, monkeypatch
):
    bob_socket = socket_for(bob)
    bob_socket.emit("join", {"room": lounge}, callback=True)
    dumps = []
    dump = schemas.message_schema.dump

    def counted(message, *args, **kwargs):
        dumps.append(message.id)
        return dump(message, *args, **kwargs)

    monkeypatch.setattr(schemas.message_schema, "dump", counted)
    seen_g = {}

    def look_at_g(sender, response, **extra):
        seen_g.update(vars(flask.g))

    flask.request_finished.connect(look_at_g, app)
    try:
        response = send(alice, lounge, "hi @bob")
    finally:
        flask.request_finished.disconnect(look_at_g, app)
    assert response.status_code == 201
    reply = response.get_json()
    assert dumps == [reply["id"]]
    assert "user" in seen_g and "shaped_messages" not in seen_g
    received = {  # the test client gives one argument as itself or in a list
        e["name"]: e["args"][0] if isinstance(e["args"], list) else e["args"]
        for e in bob_socket.get_received()
    }
    assert received["message"] == reply
    assert received["mention"] == {"room": lounge, "message": reply}
