"""The live room list: `room_added` and `room_removed` to every socket of the user,
whose sockets start (or stop) getting the room's live events at once."""

import pytest


@pytest.fixture
def lounge(make_room, alice):
    """A public room of alice's alone (the shared one already has bob in it)."""
    make_room(alice, "lounge")
    return "lounge"


def test_a_dm_opened_by_someone_else_reaches_every_socket_of_its_peer(
    client, socket_for, alice, bob
):
    tabs = [socket_for(bob), socket_for(bob)]
    room = client.post("/api/dm/bob", headers=alice.headers).get_json()
    for tab in tabs:
        [added] = tab.events("room_added")
        assert added["name"] == room["name"] == "dm-alice-bob"
        assert added["kind"] == "dm" and added["member"] is True
        assert added["peer"]["username"] == "alice"  # as bob sees it
        assert added["unread"] == 0 and added["mentions"] == 0


def test_the_peer_gets_the_dm_messages_live_without_joining(client, socket_for, send, alice, bob):
    tab = socket_for(bob)
    client.post("/api/dm/bob", headers=alice.headers)
    sent = send(alice, "dm-alice-bob", "hello bob").get_json()
    assert tab.events("message") == [sent]


def test_opening_an_existing_dm_again_adds_nothing(client, socket_for, alice, bob):
    client.post("/api/dm/bob", headers=alice.headers)
    tab = socket_for(bob)
    client.post("/api/dm/bob", headers=alice.headers)
    client.post("/api/dm/alice", headers=bob.headers)
    assert tab.events("room_added") == []


def test_a_user_added_to_a_private_room_gets_it_live(
    client, socket_for, make_room, send, alice, carol
):
    make_room(alice, "secret", private=True)
    tab = socket_for(carol)
    client.post("/api/rooms/secret/members", headers=alice.headers, json={"username": "carol"})
    [added] = tab.events("room_added")
    assert added["name"] == "secret" and added["member"] is True
    sent = send(alice, "secret", "welcome carol").get_json()
    assert tab.events("message") == [sent]


def test_joining_on_one_tab_adds_the_room_on_the_others(socket_for, lounge, send, alice, bob):
    first, second = socket_for(bob), socket_for(bob)
    assert first.emit("join", {"room": lounge}, callback=True)["ok"]
    [added] = second.events("room_added")
    assert added["name"] == lounge and added["member"] is True
    sent = send(alice, lounge, "both tabs").get_json()
    assert second.events("message") == [sent]


def test_joining_through_rest_adds_the_room_on_every_socket(socket_for, lounge, join, bob):
    tab = socket_for(bob)
    join(bob, lounge)
    assert [room["name"] for room in tab.events("room_added")] == [lounge]


def test_creating_a_room_adds_it_on_the_creators_sockets(socket_for, make_room, alice, bob):
    mine, other = socket_for(alice), socket_for(bob)
    make_room(alice, "fresh")
    assert [room["name"] for room in mine.events("room_added")] == ["fresh"]
    assert other.events("room_added") == []


def test_joining_a_room_i_am_in_adds_nothing(socket_for, lounge, join, alice):
    tab = socket_for(alice)
    join(alice, lounge)
    assert tab.events("room_added") == []


def test_leaving_removes_the_room_and_its_live_events_on_every_socket(
    client, socket_for, lounge, join, send, alice, bob
):
    join(bob, lounge)
    tabs = [socket_for(bob), socket_for(bob)]
    for tab in tabs:
        assert tab.emit("join", {"room": lounge}, callback=True)["ok"]
        tab.get_received()
    assert client.delete(f"/api/rooms/{lounge}/members/me", headers=bob.headers).status_code == 204
    send(alice, lounge, "after bob left")
    for tab in tabs:
        received = tab.get_received()
        assert [e["args"][0] for e in received if e["name"] == "room_removed"] == [{"room": lounge}]
        assert [e for e in received if e["name"] == "message"] == []


def test_leaving_a_room_i_am_not_in_removes_nothing(client, socket_for, lounge, bob):
    tab = socket_for(bob)
    client.delete(f"/api/rooms/{lounge}/members/me", headers=bob.headers)
    assert tab.events("room_removed") == []


def test_others_do_not_hear_of_my_room_list(client, socket_for, lounge, join, alice, bob):
    watcher = socket_for(alice)
    join(bob, lounge)
    client.delete(f"/api/rooms/{lounge}/members/me", headers=bob.headers)
    received = [e["name"] for e in watcher.get_received()]
    assert "room_added" not in received and "room_removed" not in received
