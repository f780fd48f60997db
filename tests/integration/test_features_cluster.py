"""The live room list, reactions, mentions and search across the instances of a
local cluster (scripts/cluster.py): 4 instances behind nginx, Redis, PostgreSQL,
started once for the module. Sockets connect straight to a chosen instance, so
that each event has to cross the message queue to reach them."""

import os
import time
import uuid

import pytest
from socket_clients import unique_name

pytestmark = pytest.mark.integration

# Generous limits for what the tests repeat; search keeps the contract's default,
# since one test checks that it holds across instances.
CLUSTER_ENV = {
    "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000",
    "AUTH_RATE_LIMIT": "10000 per minute",
    "SEND_RATE_LIMIT": "1000 per second",
}
SETTLE = 0.5  # seconds to wait for an event that must NOT arrive
THUMBS = "\N{THUMBS UP SIGN}"


@pytest.fixture(scope="module")
def cluster_options():
    return {"instances": 4, "async_mode": "eventlet", "extra_env": CLUSTER_ENV}


def on(cluster, number):
    return cluster.instances[number - 1].url


def named(room):
    return lambda payload: payload.get("name") == room or payload.get("room") == room


def message_with(message_id):
    return lambda payload: payload["id"] == message_id


# --- the live room list ---------------------------------------------------------------


def test_a_dm_opened_on_one_instance_reaches_the_peers_sockets_on_others_and_is_live(
    cluster, user, connect
):
    alice, bob = user(), user()
    tabs = [connect(bob, 2), connect(bob, 3)]
    response = alice.request("POST", f"/api/dm/{bob.username}", base_url=on(cluster, 1))
    assert response.status_code == 200, response.text
    dm = response.json()["name"]
    for tab in tabs:
        added = tab.wait_for("room_added", named(dm))
        assert added["kind"] == "dm" and added["member"] is True
        assert added["peer"]["username"] == alice.username
    sent = alice.post_message(dm, "are you there?", base_url=on(cluster, 4)).json()
    for tab in tabs:  # no join needed
        assert tab.wait_for("message", message_with(sent["id"])) == sent


def test_a_closed_socket_left_in_presence_is_not_asked_for_by_its_own_instance(
    cluster, user, connect, redis_client
):
    """A socket whose disconnect never reached presence (Redis refused the
    update) is still listed as the user's. Its own instance knows it is gone:
    adding the user to a room does not wait for an answer about it."""
    alice, bob = user(), user()
    tab = connect(bob, 2)
    stale_sid = tab.sid
    key = next(
        k
        for k in redis_client.scan_iter("{presence}:user:*")
        if any(m.endswith("|" + stale_sid) for m in redis_client.smembers(k))
    )
    member = next(m for m in redis_client.smembers(key) if m.endswith("|" + stale_sid))
    tab.disconnect()
    deadline = time.monotonic() + 10
    while redis_client.sismember(key, member) and time.monotonic() < deadline:
        time.sleep(0.05)
    redis_client.sadd(key, member)  # as if the disconnect's update had failed
    other = connect(bob, 3)
    response = alice.request("POST", f"/api/dm/{bob.username}", base_url=on(cluster, 2))
    assert response.status_code == 200, response.text
    other.wait_for("room_added", named(response.json()["name"]))
    with open(os.path.join(cluster.state_dir, "logs", "api-2.log"), encoding="utf-8") as log:
        assert f"no answer to enter_room for remote socket {stale_sid}" not in log.read()


def test_a_join_on_one_tab_adds_the_room_live_on_a_tab_on_another_instance(cluster, user, connect):
    owner, member = user(), user()
    room = unique_name("tabs")
    owner.create_room(room)
    first, second = connect(member, 1), connect(member, 4)
    first.join(room)
    second.wait_for("room_added", named(room))
    sent = owner.post_message(room, "to both tabs", base_url=on(cluster, 2)).json()
    assert second.wait_for("message", message_with(sent["id"])) == sent


def test_leaving_removes_the_room_from_every_tab_and_stops_its_events(cluster, user, connect):
    owner, member = user(), user()
    room = unique_name("leave")
    owner.create_room(room)
    member.join_room(room)
    tabs = [connect(member, 2), connect(member, 3)]
    for tab in tabs:
        tab.join(room)
    response = member.request("DELETE", f"/api/rooms/{room}/members/me", base_url=on(cluster, 4))
    assert response.status_code == 204
    for tab in tabs:
        assert tab.wait_for("room_removed", named(room)) == {"room": room}
    owner.post_message(room, "after the leave", base_url=on(cluster, 1))
    time.sleep(SETTLE)
    for tab in tabs:
        assert tab.received("message") == [], tab.name


# --- reactions and mentions -------------------------------------------------------------


def test_a_reaction_reaches_the_room_on_every_instance(cluster, user, connect):
    owner, member = user(), user()
    room = unique_name("react")
    owner.create_room(room)
    member.join_room(room)
    watchers = [connect(owner, n) for n in (1, 2, 3)]
    for watcher in watchers:
        watcher.join(room)
    sent = owner.post_message(room, "react here").json()

    reactor = connect(member, 4)
    ack = reactor.call("react", {"message_id": sent["id"], "emoji": THUMBS, "on": True})
    assert ack["ok"] is True, ack
    expected = {
        "room": room,
        "message_id": sent["id"],
        "reactions": [{"emoji": THUMBS, "usernames": [member.username]}],
    }
    for watcher in watchers:
        assert watcher.wait_for("reaction") == expected

    response = member.request(
        "DELETE", f"/api/messages/{sent['id']}/reactions/{THUMBS}", base_url=on(cluster, 1)
    )
    assert response.status_code == 200 and response.json()["reactions"] == []
    for watcher in watchers:
        watcher.wait_for("reaction", lambda p: p["reactions"] == [])
    time.sleep(SETTLE)
    for watcher in watchers:
        assert len(watcher.received("reaction")) == 2, watcher.name  # once each


def test_a_mention_reaches_every_socket_of_the_mentioned_user_without_a_join(
    cluster, user, connect
):
    author, mentioned, bystander = user(), user(), user()
    room = unique_name("mention")
    author.create_room(room)
    mentioned.join_room(room)
    tabs = [connect(mentioned, 2), connect(mentioned, 4)]
    other = connect(bystander, 3)
    sent = author.post_message(room, f"look @{mentioned.username}", base_url=on(cluster, 1)).json()
    assert sent["mentions"] == [mentioned.username]
    for tab in tabs:
        assert tab.wait_for("mention") == {"room": room, "message": sent}
    view = mentioned.request("GET", f"/api/rooms/{room}", base_url=on(cluster, 3)).json()
    assert view["mentions"] == 1
    time.sleep(SETTLE)
    assert other.received("mention") == []


# --- search -------------------------------------------------------------------------------


def test_search_finds_an_edit_at_once_from_another_instance(cluster, user):
    author = user()
    room = unique_name("search")
    author.create_room(room)
    word = "w" + uuid.uuid4().hex[:10]
    sent = author.post_message(room, f"draft {word}", base_url=on(cluster, 1)).json()
    response = author.request(
        "PATCH",
        f"/api/messages/{sent['id']}",
        base_url=on(cluster, 2),
        json={"body": f"{word} deployed at last"},
    )
    assert response.status_code == 200
    found = author.request(
        "GET", "/api/search", base_url=on(cluster, 3), params={"q": f"deploying {word}"}
    ).json()
    assert [m["id"] for m in found["messages"]] == [sent["id"]]
    assert (
        author.request(
            "GET", "/api/search", base_url=on(cluster, 4), params={"q": f"draft {word}"}
        ).json()["messages"]
        == []
    )


def test_the_search_limit_holds_across_instances(cluster, user):
    searcher = user()
    answers = [
        searcher.request(
            "GET", "/api/search", base_url=on(cluster, 1 + n % 4), params={"q": "anything"}
        ).status_code
        for n in range(11)
    ]
    assert answers[:10] == [200] * 10
    assert answers[10] == 429
