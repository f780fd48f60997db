"""Reactions: REST PUT/DELETE, the Socket.IO `react` event, the `reaction` broadcast,
and `reactions` on every message."""

from urllib.parse import quote

import pytest
from unit_helpers import assert_error, assert_error_ack

THUMBS = "\N{THUMBS UP SIGN}"
HEART = "\N{HEAVY BLACK HEART}\N{VARIATION SELECTOR-16}"
FAMILY = "\N{MAN}\N{ZERO WIDTH JOINER}\N{WOMAN}\N{ZERO WIDTH JOINER}\N{GIRL}"


@pytest.fixture
def message_id(send, lounge, alice):
    return send(alice, lounge, "react to me").get_json()["id"]


@pytest.fixture
def react(client):
    """react(user, message_id, emoji, on=True) -> the response of PUT (or DELETE)."""

    def react(user, message_id, emoji, on=True):
        url = f"/api/messages/{message_id}/reactions/{quote(emoji, safe='')}"
        method = client.put if on else client.delete
        return method(url, headers=user.headers)

    return react


@pytest.fixture
def watcher(socket_for, alice, lounge):
    """alice's socket, joined to the lounge, its queue emptied."""
    sock = socket_for(alice)
    assert sock.emit("join", {"room": lounge}, callback=True)["ok"]
    sock.get_received()
    return sock


# --- REST -------------------------------------------------------------------


def test_put_adds_my_reaction_and_returns_the_message(react, message_id, bob):
    response = react(bob, message_id, THUMBS)
    assert response.status_code == 200
    body = response.get_json()
    assert body["id"] == message_id
    assert body["reactions"] == [{"emoji": THUMBS, "usernames": ["bob"]}]


def test_put_is_idempotent(react, message_id, bob):
    react(bob, message_id, THUMBS)
    response = react(bob, message_id, THUMBS)
    assert response.status_code == 200
    assert response.get_json()["reactions"] == [{"emoji": THUMBS, "usernames": ["bob"]}]


def test_reactions_are_listed_in_the_order_each_emoji_was_first_used(react, message_id, alice, bob):
    react(bob, message_id, HEART)
    react(alice, message_id, THUMBS)
    response = react(alice, message_id, HEART)
    assert response.get_json()["reactions"] == [
        {"emoji": HEART, "usernames": ["bob", "alice"]},
        {"emoji": THUMBS, "usernames": ["alice"]},
    ]


def test_delete_takes_only_my_reaction_back(react, message_id, alice, bob):
    react(alice, message_id, THUMBS)
    react(bob, message_id, THUMBS)
    response = react(bob, message_id, THUMBS, on=False)
    assert response.status_code == 200
    assert response.get_json()["reactions"] == [{"emoji": THUMBS, "usernames": ["alice"]}]


def test_delete_of_the_last_user_drops_the_emoji(react, message_id, bob):
    react(bob, message_id, THUMBS)
    assert react(bob, message_id, THUMBS, on=False).get_json()["reactions"] == []


def test_delete_is_idempotent(react, message_id, bob):
    response = react(bob, message_id, THUMBS, on=False)
    assert response.status_code == 200
    assert response.get_json()["reactions"] == []


@pytest.mark.parametrize("emoji", [THUMBS, FAMILY, ":tada:", "x", "y" * 32, "+1"])
def test_an_emoji_of_1_to_32_characters_without_whitespace_is_accepted(
    react, message_id, bob, emoji
):
    response = react(bob, message_id, emoji)
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["reactions"][0]["emoji"] == emoji


@pytest.mark.parametrize(
    "emoji", ["y" * 33, "a b", "tab\there", "nl\n", "\u00a0", "nul\x00", "bell\x07", "\u2028"]
)
def test_an_emoji_too_long_or_with_whitespace_or_control_characters_is_422(
    react, message_id, bob, emoji
):
    error = assert_error(react(bob, message_id, emoji), 422, "validation_error")
    assert "emoji" in error["fields"]


def test_at_most_20_distinct_emoji_on_a_message(react, message_id, alice, bob):
    for n in range(20):
        assert react(alice, message_id, f":e{n}:").status_code == 200
    assert_error(react(bob, message_id, ":one_too_many:"), 409, "conflict")
    # An emoji already there can still be used by another person.
    response = react(bob, message_id, ":e0:")
    assert response.status_code == 200
    assert len(response.get_json()["reactions"]) == 20


def test_reacting_to_a_missing_message_is_404(react, lounge, bob):
    assert_error(react(bob, 999999, THUMBS), 404, "not_found")


def test_a_non_member_of_a_public_room_may_not_react(react, message_id, carol):
    assert_error(react(carol, message_id, THUMBS), 403, "forbidden")


def test_a_message_in_a_private_room_is_404_to_a_non_member(react, make_room, send, alice, carol):
    make_room(alice, "secret", private=True)
    hidden = send(alice, "secret", "psst").get_json()["id"]
    assert_error(react(carol, hidden, THUMBS), 404, "not_found")
    assert_error(react(carol, hidden, THUMBS, on=False), 404, "not_found")


def test_reacting_to_a_deleted_message_is_409(client, react, message_id, alice, bob):
    client.delete(f"/api/messages/{message_id}", headers=alice.headers)
    assert_error(react(bob, message_id, THUMBS), 409, "conflict")


def test_reactions_need_a_token(client, message_id):
    assert_error(client.put(f"/api/messages/{message_id}/reactions/x"), 401, "unauthorized")


def test_deleting_a_message_drops_its_reactions(client, react, message_id, alice, bob):
    react(bob, message_id, THUMBS)
    response = client.delete(f"/api/messages/{message_id}", headers=alice.headers)
    assert response.get_json()["reactions"] == []


# --- reactions on messages everywhere ------------------------------------------


def test_history_carries_reactions(client, react, message_id, lounge, bob):
    react(bob, message_id, THUMBS)
    page = client.get(f"/api/rooms/{lounge}/messages", headers=bob.headers).get_json()
    [message] = page["messages"]
    assert message["reactions"] == [{"emoji": THUMBS, "usernames": ["bob"]}]


def test_a_new_message_has_no_reactions(send, lounge, alice):
    assert send(alice, lounge, "fresh").get_json()["reactions"] == []


def test_sync_and_live_messages_carry_reactions(watcher, react, send, lounge, alice, bob):
    sent = send(alice, lounge, "live").get_json()
    [live] = watcher.events("message")
    assert live["reactions"] == []
    react(bob, sent["id"], THUMBS)
    ack = watcher.emit("sync", {"room": lounge, "after": sent["id"] - 1}, callback=True)
    assert ack["messages"][0]["reactions"] == [{"emoji": THUMBS, "usernames": ["bob"]}]


# --- Socket.IO -------------------------------------------------------------------


def test_a_change_broadcasts_the_whole_reaction_list_to_the_room(
    watcher, react, message_id, lounge, bob
):
    react(bob, message_id, THUMBS)
    react(bob, message_id, HEART)
    assert watcher.events("reaction") == [
        {
            "room": lounge,
            "message_id": message_id,
            "reactions": [{"emoji": THUMBS, "usernames": ["bob"]}],
        },
        {
            "room": lounge,
            "message_id": message_id,
            "reactions": [
                {"emoji": THUMBS, "usernames": ["bob"]},
                {"emoji": HEART, "usernames": ["bob"]},
            ],
        },
    ]


def test_a_repeated_reaction_broadcasts_nothing(watcher, react, message_id, bob):
    react(bob, message_id, THUMBS)
    watcher.get_received()
    react(bob, message_id, THUMBS)
    react(bob, message_id, HEART, on=False)
    assert watcher.events("reaction") == []


def test_react_event_adds_and_removes(socket_for, watcher, message_id, lounge, bob):
    sock = socket_for(bob)
    ack = sock.emit("react", {"message_id": message_id, "emoji": THUMBS, "on": True}, callback=True)
    assert ack["ok"] is True
    assert ack["message"]["id"] == message_id
    assert ack["message"]["reactions"] == [{"emoji": THUMBS, "usernames": ["bob"]}]
    ack = sock.emit(
        "react", {"message_id": message_id, "emoji": THUMBS, "on": False}, callback=True
    )
    assert ack["ok"] is True and ack["message"]["reactions"] == []
    assert [e["reactions"] for e in watcher.events("reaction")] == [
        [{"emoji": THUMBS, "usernames": ["bob"]}],
        [],
    ]


@pytest.mark.parametrize(
    "payload, field",
    [
        ({"emoji": THUMBS, "on": True}, "message_id"),
        ({"message_id": "1", "emoji": THUMBS, "on": True}, "message_id"),
        ({"message_id": 1, "on": True}, "emoji"),
        ({"message_id": 1, "emoji": "a b", "on": True}, "emoji"),
        ({"message_id": 1, "emoji": "z" * 33, "on": True}, "emoji"),
        ({"message_id": 1, "emoji": THUMBS}, "on"),
        ({"message_id": 1, "emoji": THUMBS, "on": 1}, "on"),
    ],
)
def test_react_event_validates_its_payload(socket_for, bob, payload, field):
    ack = socket_for(bob).emit("react", payload, callback=True)
    error = assert_error_ack(ack, "validation_error")
    assert field in error["fields"]


def test_react_event_on_a_foreign_private_message_is_not_found(
    socket_for, make_room, send, alice, carol
):
    make_room(alice, "secret", private=True)
    hidden = send(alice, "secret", "psst").get_json()["id"]
    ack = socket_for(carol).emit(
        "react", {"message_id": hidden, "emoji": THUMBS, "on": True}, callback=True
    )
    assert_error_ack(ack, "not_found")


def test_react_event_is_rate_limited_past_a_burst_of_30(socket_for, message_id, bob):
    sock = socket_for(bob)
    acks = [
        sock.emit(
            "react", {"message_id": message_id, "emoji": THUMBS, "on": n % 2 == 0}, callback=True
        )
        for n in range(31)
    ]
    assert all(ack.get("ok") for ack in acks[:30]), acks[:30]
    assert_error_ack(acks[30], "rate_limited")


def test_rest_and_socket_reactions_share_one_limit(socket_for, react, message_id, bob, alice):
    sock = socket_for(bob)
    for _n in range(15):
        assert sock.emit(
            "react", {"message_id": message_id, "emoji": THUMBS, "on": True}, callback=True
        )["ok"]
    for _n in range(15):
        assert react(bob, message_id, THUMBS).status_code == 200
    response = react(bob, message_id, THUMBS)
    assert_error(response, 429, "rate_limited")
    assert "Retry-After" in response.headers
    assert react(alice, message_id, THUMBS).status_code == 200  # others unaffected
