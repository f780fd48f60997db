"""Replies and threads, and per-room mute: the rules, REST and Socket.IO (SQLite)."""

from unit_helpers import assert_error, assert_error_ack


def reply(client, user, room, parent_id, body="a reply", client_id=None):
    payload = {"body": body, "reply_to": parent_id}
    if client_id is not None:
        payload["client_id"] = client_id
    return client.post(f"/api/rooms/{room}/messages", headers=user.headers, json=payload)


def thread_page(client, user, message_id, query=""):
    return client.get(f"/api/messages/{message_id}/thread{query}", headers=user.headers)


# --- replying ---------------------------------------------------------------


def test_a_reply_quotes_its_parent_and_the_parent_counts_it(client, send, lounge, alice, bob):
    parent = send(alice, lounge, "What shall we build?").get_json()
    assert parent["reply_to"] is None and parent["thread"] is None
    response = reply(client, bob, lounge, parent["id"], "A chat")
    assert response.status_code == 201
    answer = response.get_json()
    assert answer["reply_to"] == {
        "id": parent["id"],
        "author": {"username": "alice", "display_name": "Alice"},
        "excerpt": "What shall we build?",
    }
    assert answer["thread"] is None
    history = client.get(f"/api/rooms/{lounge}/messages", headers=alice.headers).get_json()
    first, second = history["messages"]
    assert second["id"] == answer["id"]  # a reply is an ordinary message of the room
    assert second["reply_to"]["id"] == parent["id"]
    assert first["thread"] == {"replies": 1, "last_reply_at": answer["created_at"]}


def test_the_excerpt_is_the_first_120_characters(client, send, lounge, alice, bob):
    body = "x" * 100 + "y" * 100
    parent = send(alice, lounge, body).get_json()
    answer = reply(client, bob, lounge, parent["id"]).get_json()
    assert answer["reply_to"]["excerpt"] == body[:120]


def test_a_reply_to_a_message_of_another_room_is_refused(
    client, send, make_room, lounge, alice, bob
):
    make_room(alice, "elsewhere")
    other = send(alice, "elsewhere", "over here").get_json()
    response = reply(client, alice, lounge, other["id"])
    error = assert_error(response, 422, "validation_error")
    assert "reply_to" in error["fields"]
    # Nothing was stored, and the other message's thread did not move.
    history = client.get(f"/api/rooms/{lounge}/messages", headers=alice.headers).get_json()
    assert history["messages"] == []
    elsewhere = client.get("/api/rooms/elsewhere/messages", headers=alice.headers).get_json()
    assert elsewhere["messages"][0]["thread"] is None


def test_a_reply_to_no_message_is_refused_the_same_way(client, send, lounge, alice):
    assert_error(reply(client, alice, lounge, 999999), 422, "validation_error")
    for bad in (0, -1, "1", 1.5, True, 2**63):
        response = client.post(
            f"/api/rooms/{lounge}/messages",
            headers=alice.headers,
            json={"body": "x", "reply_to": bad},
        )
        assert_error(response, 422, "validation_error")


def test_a_reply_in_a_private_room_one_is_not_in_is_404_first(client, send, make_room, alice, bob):
    make_room(alice, "secret", private=True)
    parent = send(alice, "secret", "hush").get_json()
    assert_error(reply(client, bob, "secret", parent["id"]), 404, "not_found")


def test_a_send_without_reply_to_costs_no_extra_statement(client, send, lounge, alice, statements):
    client.get("/api/me", headers=alice.headers)
    del statements[:]
    assert send(alice, lounge, "plain").status_code == 201
    assert len(statements) == 2, statements
    del statements[:]
    parent = send(alice, lounge, "parent").get_json()
    del statements[:]
    assert reply(client, alice, lounge, parent["id"]).status_code == 201
    # The room's row, the parent's counted reply (UPDATE ... RETURNING), the INSERT.
    assert [s.split()[0] for s in statements] == ["SELECT", "UPDATE", "INSERT"], statements


def test_a_repeated_reply_is_counted_once(client, send, lounge, alice, bob):
    parent = send(alice, lounge, "count me").get_json()
    first = reply(client, bob, lounge, parent["id"], client_id="r-1")
    again = reply(client, bob, lounge, parent["id"], client_id="r-1")
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.get_json()["id"] == first.get_json()["id"]
    assert again.get_json()["reply_to"]["id"] == parent["id"]
    page = thread_page(client, alice, parent["id"]).get_json()
    assert len(page["messages"]) == 1
    history = client.get(f"/api/rooms/{lounge}/messages", headers=alice.headers).get_json()
    assert history["messages"][0]["thread"]["replies"] == 1


# --- deleting ---------------------------------------------------------------


def test_a_deleted_parent_keeps_its_thread_and_its_excerpt_goes(client, send, lounge, alice, bob):
    parent = send(alice, lounge, "soon gone").get_json()
    answer = reply(client, bob, lounge, parent["id"]).get_json()
    deleted = client.delete(f"/api/messages/{parent['id']}", headers=alice.headers).get_json()
    assert deleted["deleted"] is True
    assert deleted["thread"]["replies"] == 1
    page = thread_page(client, bob, parent["id"]).get_json()
    assert [m["id"] for m in page["messages"]] == [answer["id"]]
    assert page["messages"][0]["reply_to"] == {
        "id": parent["id"],
        "author": {"username": "alice", "display_name": "Alice"},
        "excerpt": "",
    }
    # Replying to it still works: the thread goes on.
    assert reply(client, bob, lounge, parent["id"]).status_code == 201


def test_a_deleted_reply_leaves_the_count(client, send, lounge, alice, bob):
    parent = send(alice, lounge, "parent").get_json()
    one = reply(client, bob, lounge, parent["id"], "one").get_json()
    two = reply(client, bob, lounge, parent["id"], "two").get_json()
    client.delete(f"/api/messages/{two['id']}", headers=bob.headers)
    history = client.get(f"/api/rooms/{lounge}/messages", headers=alice.headers).get_json()
    assert history["messages"][0]["thread"] == {
        "replies": 1,
        "last_reply_at": one["created_at"],
    }
    # It stays in the thread's page as deleted, as it stays in the history.
    page = thread_page(client, alice, parent["id"]).get_json()
    assert [(m["id"], m["deleted"]) for m in page["messages"]] == [
        (one["id"], False),
        (two["id"], True),
    ]
    client.delete(f"/api/messages/{one['id']}", headers=bob.headers)
    history = client.get(f"/api/rooms/{lounge}/messages", headers=alice.headers).get_json()
    assert history["messages"][0]["thread"] is None


# --- the thread's pages -----------------------------------------------------


def test_the_thread_is_paged_oldest_first(client, send, lounge, alice, bob):
    parent = send(alice, lounge, "parent").get_json()
    ids = [reply(client, bob, lounge, parent["id"], f"r{i}").get_json()["id"] for i in range(5)]
    send(alice, lounge, "not in the thread")
    first = thread_page(client, alice, parent["id"], "?limit=2").get_json()
    assert [m["id"] for m in first["messages"]] == ids[:2] and first["has_more"] is True
    second = thread_page(client, alice, parent["id"], f"?limit=2&after={ids[1]}").get_json()
    assert [m["id"] for m in second["messages"]] == ids[2:4] and second["has_more"] is True
    last = thread_page(client, alice, parent["id"], f"?limit=2&after={ids[3]}").get_json()
    assert [m["id"] for m in last["messages"]] == ids[4:] and last["has_more"] is False
    assert_error(thread_page(client, alice, parent["id"], "?limit=0"), 422, "validation_error")
    assert_error(thread_page(client, alice, parent["id"], "?limit=101"), 422, "validation_error")


def test_only_members_read_a_thread(client, send, make_room, lounge, alice, bob, carol):
    make_room(alice, "secret", private=True)
    parent = send(alice, "secret", "hush").get_json()
    assert_error(thread_page(client, bob, parent["id"]), 404, "not_found")
    assert_error(thread_page(client, alice, 999999), 404, "not_found")
    public = send(alice, lounge, "open").get_json()
    assert_error(thread_page(client, carol, public["id"]), 403, "forbidden")
    assert thread_page(client, bob, public["id"]).status_code == 200


# --- Socket.IO -----------------------------------------------------------------


def test_a_socket_replies_and_the_room_hears_the_thread(
    client, send, lounge, alice, bob, socket_for
):
    parent = send(alice, lounge, "parent").get_json()
    watcher = socket_for(alice)
    watcher.emit("join", {"room": lounge}, callback=True)
    watcher.get_received()
    sender = socket_for(bob)
    ack = sender.emit(
        "send",
        {"room": lounge, "body": "via socket", "client_id": "s-1", "reply_to": parent["id"]},
        callback=True,
    )
    assert ack["ok"] is True and ack["message"]["reply_to"]["id"] == parent["id"]
    received = watcher.get_received()
    names = [item["name"] for item in received]
    assert names.index("message") < names.index("thread")
    thread = next(item["args"][0] for item in received if item["name"] == "thread")
    assert thread == {
        "room": lounge,
        "message_id": parent["id"],
        "thread": {"replies": 1, "last_reply_at": ack["message"]["created_at"]},
    }
    client.delete(f"/api/messages/{ack['message']['id']}", headers=bob.headers)
    assert watcher.events("thread") == [
        {"room": lounge, "message_id": parent["id"], "thread": None}
    ]
    bad = sender.emit(
        "send", {"room": lounge, "body": "x", "client_id": "s-2", "reply_to": 999}, callback=True
    )
    assert assert_error_ack(bad, "validation_error")["fields"]["reply_to"]


# --- mute ------------------------------------------------------------------------


def test_mute_is_a_members_own_setting_and_reaches_their_sockets(
    client, lounge, alice, bob, socket_for
):
    mine, theirs = socket_for(bob), socket_for(alice)
    mine.get_received()
    theirs.get_received()
    response = client.put(
        f"/api/rooms/{lounge}/settings", headers=bob.headers, json={"muted": True}
    )
    assert response.status_code == 200
    assert response.get_json()["muted"] is True
    assert client.get(f"/api/rooms/{lounge}", headers=bob.headers).get_json()["muted"] is True
    assert client.get(f"/api/rooms/{lounge}", headers=alice.headers).get_json()["muted"] is False
    updated = mine.events("room_updated")
    assert len(updated) == 1 and updated[0]["name"] == lounge and updated[0]["muted"] is True
    assert theirs.events("room_updated") == []
    rooms = client.get("/api/rooms", headers=bob.headers).get_json()["rooms"]
    assert [r["muted"] for r in rooms if r["name"] == lounge] == [True]
    # The same value again changes nothing and tells nobody.
    client.put(f"/api/rooms/{lounge}/settings", headers=bob.headers, json={"muted": True})
    assert mine.events("room_updated") == []


def test_mute_needs_membership_and_a_boolean(client, make_room, lounge, alice, carol):
    path = f"/api/rooms/{lounge}/settings"
    assert_error(client.put(path, headers=carol.headers, json={"muted": True}), 403, "forbidden")
    make_room(alice, "secret", private=True)
    assert_error(
        client.put("/api/rooms/secret/settings", headers=carol.headers, json={"muted": True}),
        404,
        "not_found",
    )
    for body in ({}, {"muted": 1}, {"muted": "true"}, {"muted": None}):
        assert_error(client.put(path, headers=alice.headers, json=body), 422, "validation_error")


# --- what the domain announces -----------------------------------------------------


def test_threads_and_settings_are_announced_through_the_notifier(
    app, client, send, lounge, alice, bob
):
    from app.chat import notify

    class Recording(notify.Listener):
        def __init__(self):
            self.calls = []

        def message_created(self, message, repeat=False, shaped=None):
            self.calls.append(("message_created", message.body))
            return not repeat

        def message_deleted(self, message):
            self.calls.append(("message_deleted", message.id))

        def thread_changed(self, parent):
            self.calls.append(
                ("thread_changed", parent.id, parent.thread and parent.thread["replies"])
            )

        def settings_changed(self, room, user):
            self.calls.append(("settings_changed", room.name, user.username))

    parent = send(alice, lounge, "parent").get_json()
    previous = app.extensions.get(notify.EXTENSION_KEY)
    recording = Recording()
    notify.init_app(app, recording)
    try:
        answer = reply(client, bob, lounge, parent["id"], "child").get_json()
        client.delete(f"/api/messages/{answer['id']}", headers=bob.headers)
        client.put(f"/api/rooms/{lounge}/settings", headers=bob.headers, json={"muted": True})
    finally:
        notify.init_app(app, previous)
    assert recording.calls == [
        ("message_created", "child"),
        ("thread_changed", parent["id"], 1),
        ("message_deleted", answer["id"]),
        ("thread_changed", parent["id"], None),
        ("settings_changed", lounge, "bob"),
    ]
