"""Replies, threads and per-room mute across the instances of a local cluster
(scripts/cluster.py): 3 instances behind nginx, Redis, PostgreSQL, started once
for the module. Sockets connect straight to a chosen instance, so that each
event has to cross the message queue to reach them."""

import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from socket_clients import assert_error_shape, unique_name

pytestmark = pytest.mark.integration

CLUSTER_ENV = {
    "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000",
    "AUTH_RATE_LIMIT": "10000 per minute",
    "SEND_RATE_LIMIT": "1000 per second",
}
SETTLE = 0.5  # seconds to wait for an event that must NOT arrive


@pytest.fixture(scope="module")
def cluster_options():
    return {"instances": 3, "async_mode": "eventlet", "extra_env": CLUSTER_ENV}


def on(cluster, number):
    return cluster.instances[number - 1].url


def about(message_id):
    return lambda payload: payload["message_id"] == message_id


def send_reply(account, room, parent_id, body, base_url):
    return account.request(
        "POST",
        f"/api/rooms/{room}/messages",
        base_url=base_url,
        json={"body": body, "reply_to": parent_id},
    )


def test_replies_through_two_instances_move_the_count_live_on_a_third(cluster, user, connect):
    owner, member = user(), user()
    room = unique_name("threads")
    owner.create_room(room)
    member.join_room(room)
    watcher = connect(owner, 3)
    watcher.join(room)
    parent = owner.post_message(room, "Shall we ship on Friday?", base_url=on(cluster, 1)).json()

    first = send_reply(member, room, parent["id"], "Yes", on(cluster, 1))
    assert first.status_code == 201, first.text
    first = first.json()
    assert first["reply_to"] == {
        "id": parent["id"],
        "author": {"username": owner.username, "display_name": owner.user["display_name"]},
        "excerpt": "Shall we ship on Friday?",
    }
    assert watcher.wait_for("message", lambda m: m["id"] == first["id"]) == first
    event = watcher.wait_for("thread", about(parent["id"]))
    assert event == {
        "room": room,
        "message_id": parent["id"],
        "thread": {"replies": 1, "last_reply_at": first["created_at"]},
    }

    # The second reply goes over a socket on another instance.
    sender = connect(member, 2)
    ack = sender.call(
        "send", {"room": room, "body": "Or Monday", "client_id": "c-2", "reply_to": parent["id"]}
    )
    assert ack["ok"] is True, ack
    second = ack["message"]
    watcher.wait_for("thread", lambda p: p["thread"] and p["thread"]["replies"] == 2)
    assert watcher.received("thread")[-1]["thread"]["last_reply_at"] == second["created_at"]

    # Any instance reads the thread, and the count on the parent.
    page = owner.request("GET", f"/api/messages/{parent['id']}/thread", base_url=on(cluster, 2))
    assert [m["id"] for m in page.json()["messages"]] == [first["id"], second["id"]]
    history = owner.request("GET", f"/api/rooms/{room}/messages", base_url=on(cluster, 3)).json()
    assert history["messages"][0]["thread"]["replies"] == 2

    # A deleted reply leaves the count, live; a deleted parent keeps its thread.
    deleted = member.request("DELETE", f"/api/messages/{second['id']}", base_url=on(cluster, 2))
    assert deleted.status_code == 200
    watcher.wait_for("thread", lambda p: p["thread"] == event["thread"])
    gone = owner.request("DELETE", f"/api/messages/{parent['id']}", base_url=on(cluster, 1))
    assert gone.json()["deleted"] is True and gone.json()["thread"]["replies"] == 1
    page = member.request("GET", f"/api/messages/{parent['id']}/thread", base_url=on(cluster, 3))
    assert [m["id"] for m in page.json()["messages"]] == [first["id"], second["id"]]
    assert page.json()["messages"][0]["reply_to"]["excerpt"] == ""


def test_a_reply_to_a_message_of_another_room_is_refused_on_any_instance(cluster, user, connect):
    owner = user()
    here, there = unique_name("here"), unique_name("there")
    owner.create_room(here)
    owner.create_room(there)
    elsewhere = owner.post_message(there, "over there").json()
    response = send_reply(owner, here, elsewhere["id"], "no", on(cluster, 2))
    assert response.status_code == 422
    assert_error_shape(response.json(), "validation_error")
    assert "reply_to" in response.json()["error"]["fields"]
    ack = connect(owner, 3).call(
        "send", {"room": here, "body": "no", "client_id": "x", "reply_to": elsewhere["id"]}
    )
    assert_error_shape(ack, "validation_error")


def test_the_thread_is_paged_and_only_for_members(cluster, user):
    owner, member, outsider = user(), user(), user()
    room = unique_name("paged")
    owner.create_room(room, private=True)
    owner.add_member(room, member.username)
    parent = owner.post_message(room, "parent").json()
    ids = []
    for number in range(5):
        response = send_reply(member, room, parent["id"], f"r{number}", on(cluster, 1 + number % 3))
        assert response.status_code == 201, response.text
        ids.append(response.json()["id"])
    owner.post_message(room, "not part of it")

    seen, after, pages = [], None, 0
    while True:
        params = {"limit": 2, **({"after": after} if after is not None else {})}
        response = owner.request(
            "GET",
            f"/api/messages/{parent['id']}/thread",
            base_url=on(cluster, 1 + pages % 3),
            params=params,
        )
        assert response.status_code == 200, response.text
        page = response.json()
        seen += [m["id"] for m in page["messages"]]
        pages += 1
        if not page["has_more"]:
            break
        after = page["messages"][-1]["id"]
    assert seen == ids and pages == 3

    hidden = outsider.request("GET", f"/api/messages/{parent['id']}/thread")
    assert hidden.status_code == 404
    assert_error_shape(hidden.json(), "not_found")
    assert "parent" not in hidden.text and "r0" not in hidden.text


def test_muting_on_one_instance_reaches_the_users_sockets_on_others(cluster, user, connect):
    owner, member = user(), user()
    room = unique_name("mute")
    owner.create_room(room)
    member.join_room(room)
    tabs = [connect(member, 2), connect(member, 3)]
    bystander = connect(owner, 2)
    response = member.request(
        "PUT", f"/api/rooms/{room}/settings", base_url=on(cluster, 1), json={"muted": True}
    )
    assert response.status_code == 200, response.text
    assert response.json()["muted"] is True
    for tab in tabs:
        updated = tab.wait_for("room_updated", lambda p: p["name"] == room)
        assert updated["muted"] is True and updated["member"] is True
    view = member.request("GET", f"/api/rooms/{room}", base_url=on(cluster, 3)).json()
    assert view["muted"] is True
    member.request(
        "PUT", f"/api/rooms/{room}/settings", base_url=on(cluster, 2), json={"muted": False}
    )
    for tab in tabs:
        tab.wait_for("room_updated", lambda p: p["name"] == room and p["muted"] is False)
    time.sleep(SETTLE)
    assert bystander.received("room_updated") == []
    owner_view = owner.request("GET", f"/api/rooms/{room}").json()
    assert owner_view["muted"] is False


def test_replies_sent_at_once_through_every_instance_are_each_counted(cluster, user):
    owner = user()
    members = [user() for _ in range(3)]
    room = unique_name("burst")
    owner.create_room(room)
    for member in members:
        member.join_room(room)
    parent = owner.post_message(room, "count us").json()

    def burst(index):
        member = members[index]
        answers = []
        for number in range(10):
            response = send_reply(
                member,
                room,
                parent["id"],
                f"{index}-{number}",
                on(cluster, 1 + (index + number) % 3),
            )
            answers.append(response.status_code)
        return answers

    with ThreadPoolExecutor(len(members)) as pool:
        codes = [code for answers in pool.map(burst, range(len(members))) for code in answers]
    assert codes == [201] * 30
    history = owner.request("GET", f"/api/rooms/{room}/messages", params={"limit": 100}).json()
    first = history["messages"][0]
    assert first["id"] == parent["id"] and first["thread"]["replies"] == 30
    assert first["thread"]["last_reply_at"] == history["messages"][-1]["created_at"]
    page = owner.request(
        "GET", f"/api/messages/{parent['id']}/thread", params={"limit": 100}
    ).json()
    assert len(page["messages"]) == 30 and page["has_more"] is False
