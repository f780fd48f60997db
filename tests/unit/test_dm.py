"""POST /api/dm/{username}: the private two-person room."""

from unit_helpers import assert_error


def test_dm_returns_the_room_with_its_peer(client, alice, bob):
    response = client.post("/api/dm/bob", headers=alice.headers)
    assert response.status_code == 200
    room = response.get_json()
    assert room["name"] == "dm-alice-bob"
    assert room["kind"] == "dm"
    assert room["private"] is True
    assert room["peer"] == bob.user
    assert room["member"] is True
    assert room["member_count"] == 2


def test_dm_name_sorts_the_usernames(client, alice, bob):
    room = client.post("/api/dm/alice", headers=bob.headers).get_json()
    assert room["name"] == "dm-alice-bob"


def test_dm_peer_is_the_other_person_for_each_side(client, alice, bob):
    client.post("/api/dm/bob", headers=alice.headers)
    room = client.get("/api/rooms/dm-alice-bob", headers=bob.headers).get_json()
    assert room["peer"] == alice.user


def test_dm_get_or_create_returns_the_same_room(client, alice, bob):
    first = client.post("/api/dm/bob", headers=alice.headers).get_json()
    again = client.post("/api/dm/bob", headers=alice.headers).get_json()
    from_bob = client.post("/api/dm/alice", headers=bob.headers).get_json()
    assert first["id"] == again["id"] == from_bob["id"]


def test_dm_accepts_the_username_in_any_case(client, alice, bob):
    room = client.post("/api/dm/BOB", headers=alice.headers).get_json()
    assert room["name"] == "dm-alice-bob"


def test_dm_is_listed_for_both_people_only(client, alice, bob, carol):
    client.post("/api/dm/bob", headers=alice.headers)
    for user, visible in ((alice, True), (bob, True), (carol, False)):
        names = [
            r["name"] for r in client.get("/api/rooms", headers=user.headers).get_json()["rooms"]
        ]
        assert ("dm-alice-bob" in names) is visible


def test_dm_is_invisible_to_a_third_person(client, alice, bob, carol):
    client.post("/api/dm/bob", headers=alice.headers)
    assert_error(client.get("/api/rooms/dm-alice-bob", headers=carol.headers), 404, "not_found")
    assert_error(
        client.get("/api/rooms/dm-alice-bob/messages", headers=carol.headers), 404, "not_found"
    )
    assert_error(
        client.post("/api/rooms/dm-alice-bob/messages", headers=carol.headers, json={"body": "hi"}),
        404,
        "not_found",
    )


def test_both_people_can_talk_in_a_dm(client, send, alice, bob):
    client.post("/api/dm/bob", headers=alice.headers)
    assert send(alice, "dm-alice-bob", "hi bob").status_code == 201
    assert send(bob, "dm-alice-bob", "hi alice").status_code == 201
    messages = client.get("/api/rooms/dm-alice-bob/messages", headers=bob.headers).get_json()[
        "messages"
    ]
    assert [m["body"] for m in messages] == ["hi bob", "hi alice"]


def test_dm_after_leaving_rejoins_the_same_room(client, alice, bob):
    first = client.post("/api/dm/bob", headers=alice.headers).get_json()
    client.delete("/api/rooms/dm-alice-bob/members/me", headers=alice.headers)
    again = client.post("/api/dm/bob", headers=alice.headers).get_json()
    assert again["id"] == first["id"]
    assert again["member"] is True
    assert again["member_count"] == 2


def test_dm_keeps_its_peer_after_the_peer_left(client, alice, bob):
    client.post("/api/dm/bob", headers=alice.headers)
    client.delete("/api/rooms/dm-alice-bob/members/me", headers=bob.headers)
    room = client.get("/api/rooms/dm-alice-bob", headers=alice.headers).get_json()
    assert room["peer"] == bob.user


def test_dm_with_an_unknown_user_is_404(client, alice):
    assert_error(client.post("/api/dm/nobody", headers=alice.headers), 404, "not_found")


def test_dm_with_myself_is_403(client, alice):
    assert_error(client.post("/api/dm/alice", headers=alice.headers), 403, "forbidden")


def test_nobody_can_be_added_to_a_dm(client, alice, bob, carol):
    client.post("/api/dm/bob", headers=alice.headers)
    response = client.post(
        "/api/rooms/dm-alice-bob/members", headers=alice.headers, json={"username": "carol"}
    )
    assert_error(response, 403, "forbidden")


def test_dm_needs_a_token(client, bob):
    assert_error(client.post("/api/dm/bob"), 401, "unauthorized")
