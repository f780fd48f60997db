"""Where the rules live: the domain (app/chat) knows nothing of sockets or Redis,
and the channel names are spelled in one place."""

import ast
import os
import re

import pytest

from app.chat import notify

APP = os.path.join(
    os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "app"
)
CHAT = os.path.join(APP, "chat")
FORBIDDEN_IN_DOMAIN = ("redis", "socketio", "flask_socketio", "app.realtime", "engineio")


def _imports(path):
    with open(path, encoding="utf-8") as f:
        tree = ast.parse(f.read(), path)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            yield node.module


def _python_files(folder):
    for root, _, files in os.walk(folder):
        yield from (os.path.join(root, f) for f in files if f.endswith(".py"))


@pytest.mark.parametrize("path", sorted(_python_files(CHAT)), ids=os.path.basename)
def test_the_domain_imports_nothing_about_sockets_redis_or_presence(path):
    bad = [
        m
        for m in _imports(path)
        if any(m == f or m.startswith(f + ".") for f in FORBIDDEN_IN_DOMAIN)
    ]
    assert bad == []


def test_channel_names_are_spelled_only_in_the_channel_helpers():
    spelled = re.compile(r"""f?["'](room|user):""")
    places = [
        os.path.relpath(p, APP)
        for p in _python_files(APP)
        if spelled.search(open(p, encoding="utf-8").read())
    ]
    assert places == [os.path.join("realtime", "__init__.py")]


class Recording(notify.Listener):
    """Keeps what the domain announced and asked, in order."""

    def __init__(self):
        self.calls = []

    def message_created(self, message, repeat=False):
        self.calls.append(("message_created", message.body) + (("repeat",) if repeat else ()))
        return not repeat

    def message_edited(self, message):
        self.calls.append(("message_edited", message.body))

    def message_deleted(self, message):
        self.calls.append(("message_deleted", message.body))

    def member_added(self, room, user):
        self.calls.append(("member_added", room.name, user.username))

    def member_left(self, room, user):
        self.calls.append(("member_left", room.name, user.username))

    def read(self, room, user, message_id):
        self.calls.append(("read", room.name, user.username))

    def mentioned(self, user, message):
        self.calls.append(("mentioned", user.username, message.body))

    def reactions_changed(self, message):
        self.calls.append(("reactions_changed", [r["emoji"] for r in message.reaction_list]))

    def typing(self, room, user, typing, origin=None):
        self.calls.append(("typing", room.name, user.username, typing))

    def online_user_ids(self, user_ids):
        self.calls.append(("online_user_ids", len(user_ids)))
        return set(user_ids)


@pytest.fixture
def listener_of(app):
    """listener_of(listener or None): the app's domain announces to it for this test."""
    previous = app.extensions.get(notify.EXTENSION_KEY)

    def install(listener):
        app.extensions.pop(notify.EXTENSION_KEY, None)
        if listener is not None:
            notify.init_app(app, listener)
        return listener

    yield install
    notify.init_app(app, previous)


def test_the_domain_announces_what_happened_through_the_notifier(
    client, alice, bob, make_room, send, socket_for, listener_of
):
    recording = listener_of(Recording())
    make_room(alice, "plans", private=True)
    client.post("/api/rooms/plans/members", json={"username": "bob"}, headers=alice.headers)
    message = send(alice, "plans", "hi", client_id="c1").get_json()
    assert send(alice, "plans", "hi", client_id="c1").status_code == 200
    client.patch(f"/api/messages/{message['id']}", json={"body": "hi @bob"}, headers=alice.headers)
    client.put(f"/api/messages/{message['id']}/reactions/:ok:", headers=bob.headers)
    client.post("/api/rooms/plans/read", json={"message_id": message["id"]}, headers=bob.headers)
    members = client.get("/api/rooms/plans/members", headers=bob.headers).get_json()
    socket_for(bob).emit("typing", {"room": "plans", "typing": True}, callback=True)
    client.delete(f"/api/messages/{message['id']}", headers=alice.headers)
    client.delete("/api/rooms/plans/members/me", headers=bob.headers)
    assert recording.calls == [
        ("member_added", "plans", "alice"),
        ("member_added", "plans", "bob"),
        ("message_created", "hi"),
        ("message_created", "hi", "repeat"),
        ("message_edited", "hi @bob"),
        ("mentioned", "bob", "hi @bob"),
        ("reactions_changed", [":ok:"]),
        ("read", "plans", "bob"),
        ("online_user_ids", 2),
        ("typing", "plans", "bob", True),
        ("message_deleted", ""),
        ("member_left", "plans", "bob"),
    ]
    assert all(m["online"] for m in members["members"])


def test_without_a_listener_the_domain_tells_nobody(client, alice, make_room, send, listener_of):
    listener_of(None)
    make_room(alice, "quiet")
    assert send(alice, "quiet", "hello").status_code == 201
    members = client.get("/api/rooms/quiet/members", headers=alice.headers).get_json()
    assert members["members"][0]["online"] is False
