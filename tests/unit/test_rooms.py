"""Rooms: list, create, get, join, add a member, leave, members."""

import pytest
from unit_helpers import assert_error

ROOM_KEYS = {
    "id",
    "name",
    "title",
    "topic",
    "private",
    "kind",
    "created_at",
    "member_count",
    "member",
}


# --- POST /api/rooms ------------------------------------------------------


def test_create_room_returns_201_with_the_room(client, alice):
    response = client.post(
        "/api/rooms", headers=alice.headers, json={"name": "lounge", "title": "The lounge"}
    )
    assert response.status_code == 201
    room = response.get_json()
    assert set(room) == ROOM_KEYS | {"unread", "last_read_id", "mentions", "muted", "role"}
    assert room["name"] == "lounge"
    assert room["title"] == "The lounge"
    assert room["private"] is False
    assert room["kind"] == "public"
    assert room["created_at"].endswith("Z")


def test_creator_joins_the_room_it_creates(make_room, alice):
    room = make_room(alice, "lounge")
    assert room["member"] is True
    assert room["member_count"] == 1
    assert room["unread"] == 0
    assert room["last_read_id"] is None


def test_create_private_room(make_room, alice):
    room = make_room(alice, "secret", private=True)
    assert room["private"] is True
    assert room["kind"] == "private"


def test_create_room_with_a_taken_name_is_409(client, make_room, alice, bob):
    make_room(alice, "lounge")
    response = client.post("/api/rooms", headers=bob.headers, json={"name": "lounge"})
    assert_error(response, 409, "conflict")


@pytest.mark.parametrize("name", ["a", "a" * 64, "team-1_b", "0"])
def test_room_name_of_1_to_64_allowed_characters_is_accepted(client, alice, name):
    response = client.post("/api/rooms", headers=alice.headers, json={"name": name})
    assert response.status_code == 201


@pytest.mark.parametrize("name", ["", "a" * 65, "Lounge", "two words", "caf\u00e9", "a.b", "a/b"])
def test_room_name_outside_the_limits_is_422(client, alice, name):
    response = client.post("/api/rooms", headers=alice.headers, json={"name": name})
    error = assert_error(response, 422, "validation_error")
    assert "name" in error["fields"]


def test_room_names_starting_with_dm_are_reserved(client, alice):
    response = client.post("/api/rooms", headers=alice.headers, json={"name": "dm-alice-bob"})
    error = assert_error(response, 422, "validation_error")
    assert "name" in error["fields"]


def test_title_of_120_characters_is_accepted(client, alice):
    response = client.post(
        "/api/rooms", headers=alice.headers, json={"name": "lounge", "title": "t" * 120}
    )
    assert response.status_code == 201
    assert response.get_json()["title"] == "t" * 120


def test_title_over_120_characters_is_422(client, alice):
    response = client.post(
        "/api/rooms", headers=alice.headers, json={"name": "lounge", "title": "t" * 121}
    )
    error = assert_error(response, 422, "validation_error")
    assert "title" in error["fields"]


@pytest.mark.parametrize("private", ["yes", "true", 1, 0, None])
def test_private_must_be_a_boolean(client, alice, private):
    response = client.post(
        "/api/rooms", headers=alice.headers, json={"name": "lounge", "private": private}
    )
    error = assert_error(response, 422, "validation_error")
    assert "private" in error["fields"]


def test_create_room_needs_a_token(client):
    assert_error(client.post("/api/rooms", json={"name": "lounge"}), 401, "unauthorized")


# --- GET /api/rooms -------------------------------------------------------


def test_rooms_lists_public_rooms_and_my_private_rooms(client, make_room, alice, bob):
    make_room(alice, "lounge")
    make_room(alice, "alices-secret", private=True)
    make_room(bob, "bobs-secret", private=True)
    response = client.get("/api/rooms", headers=alice.headers)
    assert response.status_code == 200
    names = {r["name"] for r in response.get_json()["rooms"]}
    assert names == {"lounge", "alices-secret"}


def test_rooms_says_whether_i_am_a_member(client, make_room, alice, bob):
    make_room(alice, "lounge")
    rooms = client.get("/api/rooms", headers=bob.headers).get_json()["rooms"]
    assert rooms[0]["member"] is False
    assert "unread" not in rooms[0]
    assert "last_read_id" not in rooms[0]


def test_rooms_needs_a_token(client):
    assert_error(client.get("/api/rooms"), 401, "unauthorized")


# --- GET /api/rooms/{name} ------------------------------------------------


def test_get_room_returns_the_room(client, make_room, alice):
    created = make_room(alice, "lounge", title="The lounge")
    response = client.get("/api/rooms/lounge", headers=alice.headers)
    assert response.status_code == 200
    assert response.get_json() == created


def test_get_public_room_as_a_non_member(client, make_room, alice, bob):
    make_room(alice, "lounge")
    response = client.get("/api/rooms/lounge", headers=bob.headers)
    assert response.status_code == 200
    assert response.get_json()["member"] is False


def test_get_unknown_room_is_404(client, alice):
    assert_error(client.get("/api/rooms/nowhere", headers=alice.headers), 404, "not_found")


def test_get_private_room_as_a_non_member_is_404(client, make_room, alice, bob):
    make_room(alice, "secret", private=True)
    assert_error(client.get("/api/rooms/secret", headers=bob.headers), 404, "not_found")


def test_private_room_404_says_the_same_as_a_missing_room(client, make_room, alice, bob):
    make_room(alice, "secret", private=True)
    hidden = client.get("/api/rooms/secret", headers=bob.headers).get_json()
    missing = client.get("/api/rooms/secreu", headers=bob.headers).get_json()
    assert hidden["error"]["message"].replace("secret", "X") == missing["error"]["message"].replace(
        "secreu", "X"
    )


# --- POST /api/rooms/{name}/members ---------------------------------------


def test_join_public_room_without_a_body(client, make_room, alice, bob):
    make_room(alice, "lounge")
    response = client.post("/api/rooms/lounge/members", headers=bob.headers)
    assert response.status_code == 200
    room = response.get_json()
    assert room["member"] is True
    assert room["member_count"] == 2


def test_join_a_room_twice_changes_nothing(client, make_room, join, alice, bob):
    make_room(alice, "lounge")
    join(bob, "lounge")
    room = join(bob, "lounge")
    assert room["member_count"] == 2


def test_join_private_room_as_a_non_member_is_404(client, make_room, alice, bob):
    make_room(alice, "secret", private=True)
    response = client.post("/api/rooms/secret/members", headers=bob.headers)
    assert_error(response, 404, "not_found")


def test_join_unknown_room_is_404(client, alice):
    response = client.post("/api/rooms/nowhere/members", headers=alice.headers)
    assert_error(response, 404, "not_found")


def test_member_adds_a_user_to_a_private_room(client, make_room, alice, bob):
    make_room(alice, "secret", private=True)
    response = client.post(
        "/api/rooms/secret/members", headers=alice.headers, json={"username": "bob"}
    )
    assert response.status_code == 200
    assert response.get_json()["member_count"] == 2
    seen_by_bob = client.get("/api/rooms/secret", headers=bob.headers)
    assert seen_by_bob.status_code == 200
    assert seen_by_bob.get_json()["member"] is True


def test_non_member_cannot_add_to_a_private_room(client, make_room, alice, bob, carol):
    make_room(alice, "secret", private=True)
    response = client.post(
        "/api/rooms/secret/members", headers=bob.headers, json={"username": "carol"}
    )
    assert_error(response, 404, "not_found")


def test_adding_an_unknown_user_is_404(client, make_room, alice):
    make_room(alice, "secret", private=True)
    response = client.post(
        "/api/rooms/secret/members", headers=alice.headers, json={"username": "nobody"}
    )
    assert_error(response, 404, "not_found")


def test_adding_someone_to_a_public_room_is_403(client, make_room, alice, bob):
    make_room(alice, "lounge")
    response = client.post(
        "/api/rooms/lounge/members", headers=alice.headers, json={"username": "bob"}
    )
    assert_error(response, 403, "forbidden")


def test_join_needs_a_token(client, make_room, alice):
    make_room(alice, "lounge")
    assert_error(client.post("/api/rooms/lounge/members"), 401, "unauthorized")


# --- DELETE /api/rooms/{name}/members/me -----------------------------------


def test_leave_returns_204(client, make_room, join, alice, bob):
    make_room(alice, "lounge")
    join(bob, "lounge")
    response = client.delete("/api/rooms/lounge/members/me", headers=bob.headers)
    assert response.status_code == 204
    assert response.get_data() == b""
    room = client.get("/api/rooms/lounge", headers=bob.headers).get_json()
    assert room["member"] is False
    assert room["member_count"] == 1


def test_leaving_a_private_room_makes_it_invisible(client, make_room, alice, bob):
    make_room(alice, "secret", private=True)
    client.post("/api/rooms/secret/members", headers=alice.headers, json={"username": "bob"})
    client.delete("/api/rooms/secret/members/me", headers=bob.headers)
    assert_error(client.get("/api/rooms/secret", headers=bob.headers), 404, "not_found")


def test_leave_private_room_as_a_non_member_is_404(client, make_room, alice, bob):
    make_room(alice, "secret", private=True)
    response = client.delete("/api/rooms/secret/members/me", headers=bob.headers)
    assert_error(response, 404, "not_found")


def test_leave_unknown_room_is_404(client, alice):
    response = client.delete("/api/rooms/nowhere/members/me", headers=alice.headers)
    assert_error(response, 404, "not_found")


# --- GET /api/rooms/{name}/members ----------------------------------------


def test_members_lists_users_with_presence_and_role(client, make_room, join, alice, bob):
    make_room(alice, "lounge")
    join(bob, "lounge")
    response = client.get("/api/rooms/lounge/members", headers=alice.headers)
    assert response.status_code == 200
    members = response.get_json()["members"]
    assert members == [
        {"user": alice.user, "online": False, "role": "owner"},
        {"user": bob.user, "online": False, "role": "member"},
    ]


def test_members_shows_a_connected_user_online(client, make_room, join, socket_for, alice, bob):
    make_room(alice, "lounge")
    join(bob, "lounge")
    socket_for(bob)
    members = client.get("/api/rooms/lounge/members", headers=alice.headers).get_json()["members"]
    online = {m["user"]["username"]: m["online"] for m in members}
    assert online == {"alice": False, "bob": True}


def test_user_with_two_sockets_stays_online_until_both_close(client, make_room, socket_for, alice):
    make_room(alice, "lounge")
    first, second = socket_for(alice), socket_for(alice)
    first.disconnect()
    members = client.get("/api/rooms/lounge/members", headers=alice.headers).get_json()["members"]
    assert members[0]["online"] is True
    second.disconnect()
    members = client.get("/api/rooms/lounge/members", headers=alice.headers).get_json()["members"]
    assert members[0]["online"] is False


def test_members_of_a_private_room_as_a_non_member_is_404(client, make_room, alice, bob):
    make_room(alice, "secret", private=True)
    response = client.get("/api/rooms/secret/members", headers=bob.headers)
    assert_error(response, 404, "not_found")


def test_members_of_unknown_room_is_404(client, alice):
    assert_error(client.get("/api/rooms/nowhere/members", headers=alice.headers), 404, "not_found")


# --- a private room is invisible to non-members everywhere -----------------


@pytest.mark.parametrize(
    "method, path, body",
    [
        ("GET", "/api/rooms/secret", None),
        ("POST", "/api/rooms/secret/members", None),
        ("POST", "/api/rooms/secret/members", {"username": "carol"}),
        ("DELETE", "/api/rooms/secret/members/me", None),
        ("GET", "/api/rooms/secret/members", None),
        ("GET", "/api/rooms/secret/messages", None),
        ("POST", "/api/rooms/secret/messages", {"body": "hi"}),
        ("POST", "/api/rooms/secret/read", {"message_id": 1}),
    ],
)
def test_private_room_is_404_to_non_members_on_every_endpoint(
    client, make_room, send, alice, bob, carol, method, path, body
):
    make_room(alice, "secret", private=True)
    send(alice, "secret", "psst")
    response = client.open(path, method=method, headers=bob.headers, json=body)
    assert_error(response, 404, "not_found")
