"""Mentions: `mentions` on messages, the `mention` event, and unread mention counts."""


def _room(client, user, name):
    response = client.get(f"/api/rooms/{name}", headers=user.headers)
    assert response.status_code == 200
    return response.get_json()


# --- `mentions` on a message ----------------------------------------------------


def test_a_named_member_is_mentioned(send, lounge, alice, bob):
    assert send(alice, lounge, "hi @bob, look").get_json()["mentions"] == ["bob"]


def test_mentions_follow_the_order_of_the_body_once_each(send, lounge, alice, bob, carol):
    body = "@carol and @bob, then @carol again"
    assert send(alice, lounge, body).get_json()["mentions"] == ["carol", "bob"]


def test_a_mention_is_case_insensitive(send, lounge, alice, bob):
    assert send(alice, lounge, "hey @Bob!").get_json()["mentions"] == ["bob"]


def test_an_unknown_name_is_not_a_mention(send, lounge, alice):
    assert send(alice, lounge, "hi @nobody_here").get_json()["mentions"] == []


def test_an_address_is_not_a_mention(send, lounge, alice, bob):
    assert send(alice, lounge, "mail me at x@bob.example").get_json()["mentions"] == []


def test_anyone_may_read_a_public_room_so_a_non_member_is_mentioned(send, lounge, alice, carol):
    assert send(alice, lounge, "@carol come over").get_json()["mentions"] == ["carol"]


def test_a_non_member_of_a_private_room_is_not_mentioned(send, make_room, alice, carol):
    make_room(alice, "secret", private=True)
    assert send(alice, "secret", "@carol psst").get_json()["mentions"] == []


def test_history_carries_mentions(client, send, lounge, alice, bob):
    send(alice, lounge, "@bob hello")
    page = client.get(f"/api/rooms/{lounge}/messages", headers=bob.headers).get_json()
    assert page["messages"][0]["mentions"] == ["bob"]


def test_an_edit_recomputes_mentions(client, send, lounge, alice, bob, carol):
    sent = send(alice, lounge, "@bob hello").get_json()
    edited = client.patch(
        f"/api/messages/{sent['id']}", headers=alice.headers, json={"body": "@carol hello"}
    ).get_json()
    assert edited["mentions"] == ["carol"]


def test_a_deleted_message_drops_its_mentions(client, send, lounge, alice, bob):
    sent = send(alice, lounge, "@bob hello").get_json()
    deleted = client.delete(f"/api/messages/{sent['id']}", headers=alice.headers).get_json()
    assert deleted["mentions"] == []
    assert _room(client, bob, lounge)["mentions"] == 0


# --- the `mention` event --------------------------------------------------------


def test_the_mentioned_user_gets_mention_on_every_socket_without_joining(
    socket_for, send, lounge, alice, bob
):
    tabs = [socket_for(bob), socket_for(bob)]
    sent = send(alice, lounge, "@bob look").get_json()
    for tab in tabs:
        assert tab.events("mention") == [{"room": lounge, "message": sent}]


def test_nobody_else_gets_the_mention(socket_for, send, lounge, alice, bob, carol):
    others = [socket_for(alice), socket_for(carol)]
    send(alice, lounge, "@bob look @alice")
    for sock in others:
        assert sock.events("mention") == []


def test_an_edit_that_adds_a_mention_notifies_only_the_newly_mentioned(
    client, socket_for, send, lounge, alice, bob, carol
):
    bob_sock, carol_sock = socket_for(bob), socket_for(carol)
    sent = send(alice, lounge, "@bob look").get_json()
    bob_sock.get_received()
    edited = client.patch(
        f"/api/messages/{sent['id']}", headers=alice.headers, json={"body": "@bob and @carol look"}
    ).get_json()
    assert bob_sock.events("mention") == []
    assert carol_sock.events("mention") == [{"room": lounge, "message": edited}]


# --- unread mention counts --------------------------------------------------------


def test_a_room_view_counts_unread_mentions_and_reading_clears_them(
    client, send, lounge, alice, bob
):
    send(alice, lounge, "@bob one")
    send(alice, lounge, "no mention")
    last = send(alice, lounge, "@bob two").get_json()
    view = _room(client, bob, lounge)
    assert (view["unread"], view["mentions"]) == (3, 2)
    rooms = client.get("/api/rooms", headers=bob.headers).get_json()["rooms"]
    assert [r["mentions"] for r in rooms if r["name"] == lounge] == [2]
    client.post(f"/api/rooms/{lounge}/read", headers=bob.headers, json={"message_id": last["id"]})
    assert _room(client, bob, lounge)["mentions"] == 0


def test_my_own_mention_of_myself_is_not_unread(client, send, lounge, alice):
    assert send(alice, lounge, "note to @alice").get_json()["mentions"] == ["alice"]
    assert _room(client, alice, lounge)["mentions"] == 0


def test_a_non_member_view_has_no_mention_count(client, send, lounge, alice, carol):
    send(alice, lounge, "@carol come")
    assert "mentions" not in _room(client, carol, lounge)
