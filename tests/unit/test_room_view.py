"""One room as a member sees it (chat.room_view, one statement) is what the
list's view of the same room says (chat.room_views, a query per field)."""

from app import chat
from app.extensions import db
from app.models import Room, User


def _both(app, username, room_name):
    with app.app_context():
        user = db.session.scalar(db.select(User).where(User.username == username))
        room = db.session.scalar(db.select(Room).where(Room.name == room_name))
        return chat.room_view(user, room), chat.room_views(user, [room])[0]


def test_a_member_s_view_matches_the_list_s(app, client, lounge, send, alice, bob, carol, join):
    join(carol, "lounge")
    for body in ("one", "two @bob", "three @bob"):
        assert send(alice, "lounge", body).status_code == 201
    [first, *_] = client.get("/api/rooms/lounge/messages", headers=bob.headers).get_json()[
        "messages"
    ]
    mine = send(bob, "lounge", "mine").get_json()
    deleted = send(carol, "lounge", "gone @bob").get_json()
    assert client.delete(f"/api/messages/{deleted['id']}", headers=carol.headers).status_code in (
        200,
        204,
    )
    assert mine["id"]
    one, listed = _both(app, "bob", "lounge")
    assert one == listed
    assert (one["member_count"], one["unread"], one["mentions"]) == (3, 3, 2)
    read = client.post(
        "/api/rooms/lounge/read", headers=bob.headers, json={"message_id": first["id"]}
    )
    assert read.status_code in (200, 204), read.get_json()
    patched = client.put("/api/rooms/lounge/settings", headers=bob.headers, json={"muted": True})
    assert patched.status_code == 200, patched.get_json()
    one, listed = _both(app, "bob", "lounge")
    assert one == listed
    assert one["muted"] is True and one["last_read_id"] == first["id"]
    assert one["unread"] == 2


def test_a_dm_and_a_non_member_match_too(app, client, lounge, alice, bob, carol):
    assert client.post("/api/dm/bob", headers=alice.headers).status_code == 200
    dm = client.get("/api/rooms", headers=alice.headers).get_json()["rooms"]
    [name] = [r["name"] for r in dm if r["kind"] == "dm"]
    one, listed = _both(app, "alice", name)
    assert one == listed and one["peer"]
    one, listed = _both(app, "carol", "lounge")
    assert one == listed and one["member"] is False
