"""Races between two requests: the second request's change is made
to commit at the worst moment of the first, through its own connection, and
the result must be what the contract says whichever commits last."""

from sqlalchemy import select, update
from unit_helpers import assert_error

from app.chat import messages, reads, rooms
from app.extensions import db
from app.models import Membership, Message, Room, User
from app.realtime import events


def marker(app, username, room):
    with app.app_context():
        return db.session.scalar(
            select(Membership.last_read_id)
            .join(User, User.id == Membership.user_id)
            .join(Room, Room.id == Membership.room_id)
            .where(User.username == username, Room.name == room)
        )


def test_a_read_marker_never_moves_back_when_an_older_read_commits_last(
    app, client, alice, make_room, send, monkeypatch
):
    make_room(alice, "lounge")
    ids = [send(alice, "lounge", f"m{n}").get_json()["id"] for n in range(10)]
    original = reads.member_room

    def member_room_then_a_newer_read_commits(user, name):
        found = original(user, name)  # this request has seen the marker (none yet)
        with db.engine.begin() as other:  # a read up to the newest, on another connection
            other.execute(
                update(Membership).where(Membership.user_id == user.id).values(last_read_id=ids[-1])
            )
        return found

    monkeypatch.setattr(reads, "member_room", member_room_then_a_newer_read_commits)
    response = client.post(
        "/api/rooms/lounge/read", headers=alice.headers, json={"message_id": ids[4]}
    )
    assert response.status_code == 204
    assert marker(app, "alice", "lounge") == ids[-1]


def test_an_edit_racing_a_delete_does_not_store_text_in_the_deleted_row(
    app, client, alice, make_room, send, monkeypatch
):
    make_room(alice, "lounge")
    message_id = send(alice, "lounge", "original").get_json()["id"]
    original = messages._own_message

    def own_message_then_deleted_elsewhere(user, mid):
        found = original(user, mid)  # this request has loaded the live message
        with db.engine.begin() as other:  # the author deletes it from another tab
            other.execute(
                update(Message).where(Message.id == mid).values(body="", deleted_at=db.func.now())
            )
        return found

    monkeypatch.setattr(messages, "_own_message", own_message_then_deleted_elsewhere)
    response = client.patch(
        f"/api/messages/{message_id}", headers=alice.headers, json={"body": "edited"}
    )
    assert_error(response, 409, "conflict")
    with app.app_context():
        stored = db.session.get(Message, message_id)
        assert stored.body == "" and stored.deleted_at is not None and stored.edited_at is None


def test_a_delete_after_a_delete_announces_nothing_twice(
    client, alice, make_room, send, socket_for
):
    make_room(alice, "lounge")
    message_id = send(alice, "lounge", "bye").get_json()["id"]
    socket = socket_for(alice)
    socket.emit("join", {"room": "lounge"}, callback=True)
    socket.get_received()
    for _ in range(2):
        response = client.delete(f"/api/messages/{message_id}", headers=alice.headers)
        assert response.status_code == 200 and response.get_json()["deleted"] is True
    assert len(socket.events("message_deleted")) == 1


def test_a_socket_is_not_left_in_a_room_its_user_left_during_the_join(
    client, alice, bob, make_room, join, send, socket_for, monkeypatch
):
    make_room(bob, "lounge")
    join(alice, "lounge")
    socket = socket_for(alice)
    original = events.join_room

    def leave_commits_then_enter(channel, *args, **kwargs):
        # alice leaves on another tab just before this socket enters the channel
        assert (
            client.delete("/api/rooms/lounge/members/me", headers=alice.headers).status_code == 204
        )
        return original(channel, *args, **kwargs)

    monkeypatch.setattr(events, "join_room", leave_commits_then_enter)
    ack = socket.emit("join", {"room": "lounge"}, callback=True)
    monkeypatch.setattr(events, "join_room", original)
    assert ack.get("ok") is not True
    socket.get_received()
    send(bob, "lounge", "after alice left")
    assert socket.events("message") == []


def test_a_join_racing_its_users_leave_of_a_private_room_does_not_put_them_back(
    client, alice, bob, make_room, send, socket_for, monkeypatch
):
    """The leave commits after the join has read the room and the membership:
    over Socket.IO and over REST, the user stays out, and hears nothing more."""
    make_room(bob, "den", private=True)
    original = rooms._visible

    def then_leave(room, member, name):
        found = original(room, member, name)
        monkeypatch.setattr(rooms, "_visible", original)  # the leave's own look
        assert (
            client.delete(f"/api/rooms/{name}/members/me", headers=alice.headers).status_code == 204
        )
        return found

    socket = socket_for(alice)
    for join in (
        lambda: socket.emit("join", {"room": "den"}, callback=True),
        lambda: client.post("/api/rooms/den/members", headers=alice.headers),
    ):
        client.post("/api/rooms/den/members", json={"username": "alice"}, headers=bob.headers)
        assert client.get("/api/rooms/den", headers=alice.headers).status_code == 200
        monkeypatch.setattr(rooms, "_visible", then_leave)
        join()
        monkeypatch.setattr(rooms, "_visible", original)
        assert client.get("/api/rooms/den", headers=alice.headers).status_code == 404
        assert "den" not in [
            r["name"] for r in client.get("/api/rooms", headers=alice.headers).get_json()["rooms"]
        ]
    socket.get_received()
    send(bob, "den", "after alice left")
    assert socket.events("message") == []
    assert socket.events("room_added") == []
