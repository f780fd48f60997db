"""POST /api/rooms/{name}/read, and a room's unread count and last_read_id."""

import pytest
from unit_helpers import assert_error


@pytest.fixture
def room_of(client):
    def room_of(user, name="lounge"):
        return client.get(f"/api/rooms/{name}", headers=user.headers).get_json()

    return room_of


@pytest.fixture
def mark_read(client):
    def mark_read(user, message_id, name="lounge"):
        return client.post(
            f"/api/rooms/{name}/read", headers=user.headers, json={"message_id": message_id}
        )

    return mark_read


def test_unread_counts_messages_by_others(send, room_of, lounge, alice, bob):
    for _ in range(3):
        send(bob, lounge)
    assert room_of(alice)["unread"] == 3


def test_my_own_messages_are_not_unread(send, room_of, lounge, alice):
    send(alice, lounge)
    assert room_of(alice)["unread"] == 0


def test_last_read_id_is_null_before_the_first_read(send, room_of, lounge, alice, bob):
    send(bob, lounge)
    assert room_of(alice)["last_read_id"] is None


def test_read_returns_204(send, mark_read, lounge, alice, bob):
    message = send(bob, lounge).get_json()
    response = mark_read(alice, message["id"])
    assert response.status_code == 204
    assert response.get_data() == b""


def test_read_sets_last_read_id_and_lowers_unread(send, mark_read, room_of, lounge, alice, bob):
    ids = [send(bob, lounge).get_json()["id"] for _ in range(3)]
    mark_read(alice, ids[1])
    room = room_of(alice)
    assert room["last_read_id"] == ids[1]
    assert room["unread"] == 1


def test_read_never_moves_back(send, mark_read, room_of, lounge, alice, bob):
    ids = [send(bob, lounge).get_json()["id"] for _ in range(3)]
    mark_read(alice, ids[2])
    response = mark_read(alice, ids[0])
    assert response.status_code == 204
    room = room_of(alice)
    assert room["last_read_id"] == ids[2]
    assert room["unread"] == 0


def test_unread_shows_in_the_room_list(client, send, lounge, alice, bob):
    send(bob, lounge)
    rooms = client.get("/api/rooms", headers=alice.headers).get_json()["rooms"]
    assert [(r["name"], r["unread"]) for r in rooms] == [("lounge", 1)]


def test_read_markers_are_per_user(send, mark_read, room_of, lounge, alice, bob, carol, join):
    join(carol, lounge)
    message = send(bob, lounge).get_json()
    mark_read(alice, message["id"])
    assert room_of(carol)["unread"] == 1
    assert room_of(carol)["last_read_id"] is None


def test_read_of_a_message_in_another_room_is_404(
    send, make_room, mark_read, room_of, lounge, alice
):
    make_room(alice, "other")
    elsewhere = send(alice, "other").get_json()
    error = assert_error(mark_read(alice, elsewhere["id"]), 404, "not_found")
    assert "message_id" in error["message"]
    assert room_of(alice)["last_read_id"] is None


def test_read_of_an_unknown_message_is_404(mark_read, lounge, alice):
    error = assert_error(mark_read(alice, 999), 404, "not_found")
    assert "message_id" in error["message"]


@pytest.mark.parametrize("message_id", [0, -5, "7", 1.5, True, None])
def test_read_needs_a_positive_integer_message_id(mark_read, lounge, alice, message_id):
    error = assert_error(mark_read(alice, message_id), 422, "validation_error")
    assert "message_id" in error["fields"]


def test_read_in_a_public_room_i_have_not_joined_is_403(send, make_room, mark_read, alice, bob):
    make_room(alice, "open")
    message = send(alice, "open").get_json()
    assert_error(mark_read(bob, message["id"], "open"), 403, "forbidden")


def test_read_in_a_private_room_i_am_not_in_is_404(send, make_room, mark_read, alice, bob):
    make_room(alice, "secret", private=True)
    message = send(alice, "secret").get_json()
    assert_error(mark_read(bob, message["id"], "secret"), 404, "not_found")


def test_read_needs_a_token(client, lounge):
    response = client.post("/api/rooms/lounge/read", json={"message_id": 1})
    assert_error(response, 401, "unauthorized")
