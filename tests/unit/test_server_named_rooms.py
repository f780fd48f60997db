"""Private rooms whose name the server chooses: `POST /api/rooms {"private": true}`
without a name. Nobody outside such a room can find its name: every answer about
it is the answer about a name no room holds (creating one included, `422` for
the reserved `p-` prefix), and its members use the name like any other.

A user-chosen name can still be probed one creation attempt at a time (`409`,
the same for a public room, a private room and a DM)."""

import json
import pathlib
import re

import pytest
from test_access_control import ENDPOINTS, EVENTS, call, fill
from unit_helpers import assert_error, assert_error_ack

from app.chat.rooms import (
    RESERVED_PREFIXES,
    SERVER_NAME_LENGTH,
    SERVER_NAMED_PREFIX,
    server_chosen_name,
)
from app.extensions import db
from app.models import Membership, Room

SERVER_NAME = re.compile(rf"{SERVER_NAMED_PREFIX}[a-z0-9]{{{SERVER_NAME_LENGTH}}}")


def create_server_named(client, user, **extra):
    response = call(client, "POST", "/api/rooms", {"private": True, **extra}, user.token)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


@pytest.fixture
def hidden(client, send, alice, bob):
    """A server-named private room of alice (owner) and bob, with one message by alice."""
    room = create_server_named(client, alice, title="Hideout")
    added = call(
        client, "POST", f"/api/rooms/{room['name']}/members", {"username": "bob"}, alice.token
    )
    assert added.status_code == 200, added.get_json()
    message = send(alice, room["name"], "secret plans", client_id="m1").get_json()
    return {"room": room["name"], "msg": message["id"], "user": "bob"}


def outsider_answer(client, user, method, path, body, values):
    """(status, JSON body) of a call, the room's name in it replaced by ROOM."""
    response = call(client, method, fill(path, **values), fill(body, **values), user.token)
    text = response.get_data(as_text=True).replace(values["room"], "ROOM")
    return response.status_code, text


# --- creating ------------------------------------------------------------------


def test_a_private_room_without_a_name_gets_an_unguessable_name_from_the_server(client, alice):
    first = create_server_named(client, alice, title="Plans")
    second = create_server_named(client, alice)
    for room in (first, second):
        assert SERVER_NAME.fullmatch(room["name"]), room["name"]
        assert room["private"] is True
        assert room["kind"] == "private"
        assert room["role"] == "owner"
        assert room["member"] is True
    assert first["title"] == "Plans"
    assert first["name"] != second["name"]


def test_server_chosen_names_are_random():
    names = {server_chosen_name() for _ in range(1000)}
    assert len(names) == 1000
    assert all(SERVER_NAME.fullmatch(name) for name in names)
    # every character of the alphabet turns up in every position
    for position in range(len(SERVER_NAMED_PREFIX), len(SERVER_NAMED_PREFIX) + 3):
        assert len({name[position] for name in names}) == 36


@pytest.mark.parametrize("body", [{}, {"private": False}, {"title": "No name"}])
def test_a_public_room_still_needs_a_name(client, alice, body):
    error = assert_error(
        call(client, "POST", "/api/rooms", body, alice.token), 422, "validation_error"
    )
    assert "name" in error["fields"]


@pytest.mark.parametrize("name", [None, ""])
def test_a_null_or_empty_name_is_not_a_request_for_a_server_chosen_one(client, alice, name):
    response = call(client, "POST", "/api/rooms", {"name": name, "private": True}, alice.token)
    assert "name" in assert_error(response, 422, "validation_error")["fields"]


@pytest.mark.parametrize("private", [False, True])
@pytest.mark.parametrize("name", ["p-", "p-team", "p-" + "a" * SERVER_NAME_LENGTH])
def test_names_starting_with_p_are_reserved_for_everyone(client, alice, name, private):
    response = call(client, "POST", "/api/rooms", {"name": name, "private": private}, alice.token)
    error = assert_error(response, 422, "validation_error")
    assert "'p-'" in str(error["fields"]["name"])


def test_no_seeded_room_has_a_reserved_name():
    seeds = pathlib.Path(__file__).resolve().parents[2] / "seeds" / "rooms.json"
    names = [room["name"] for room in json.loads(seeds.read_text())]
    assert names and not [name for name in names if name.startswith(RESERVED_PREFIXES)]


def test_a_room_that_already_holds_a_p_name_keeps_working(app, client, alice, bob):
    """A `p-` name a user chose while the prefix was free (a room already in the
    database): its members use it as before; nobody can create it again, and the
    answer (422) does not say that it exists."""
    with app.app_context():
        room = Room(name="p-team", title="", kind="private")
        room.memberships.append(Membership(user_id=alice.user["id"], role="owner"))
        db.session.add(room)
        db.session.commit()
    assert call(client, "GET", "/api/rooms/p-team", token=alice.token).status_code == 200
    sent = call(client, "POST", "/api/rooms/p-team/messages", {"body": "still here"}, alice.token)
    assert sent.status_code == 201
    held = call(client, "POST", "/api/rooms", {"name": "p-team"}, bob.token)
    free = call(client, "POST", "/api/rooms", {"name": "p-teams"}, bob.token)
    assert_error(held, 422, "validation_error")
    assert held.get_json() == free.get_json()
    assert_error(call(client, "GET", "/api/rooms/p-team", token=bob.token), 404, "not_found")


def test_names_merely_containing_p_are_still_free(client, alice):
    for name in ("p", "pp-x", "team-p-1", "p_x"):
        assert call(client, "POST", "/api/rooms", {"name": name}, alice.token).status_code == 201


def test_the_openapi_document_allows_a_missing_name_only_for_a_private_room(client):
    spec = client.get("/api/openapi.json").get_json()
    schema = spec["components"]["schemas"]["RoomCreate"]
    assert "required" not in schema
    assert {"required": ["name"]} in schema["anyOf"]
    assert {"required": ["private"], "properties": {"private": {"enum": [True]}}} in schema["anyOf"]
    assert schema["properties"]["name"]["pattern"].startswith("^(?!dm-|p-)")
    assert "422" in schema["properties"]["name"]["description"]
    operation = spec["paths"]["/api/rooms"]["post"]
    assert {"201", "409", "422", "429"} <= set(operation["responses"])
    assert "`p-`" in operation["description"]


# --- what an outsider learns: nothing ----------------------------------------------


def test_a_non_member_cannot_tell_a_server_named_room_from_a_name_nobody_holds(
    app, client, hidden, carol
):
    """The probe that the reserved prefix closes: a user-chosen private name answers
    `409` to an outsider's create (test_a_user_chosen_name_can_still_be_probed_...);
    a server-chosen one answers exactly what a name no room holds answers, on every
    operation that takes a room name."""
    nobody = {**hidden, "room": server_chosen_name()}
    probe = call(client, "POST", "/api/rooms", {"name": hidden["room"]}, carol.token)
    assert_error(probe, 422, "validation_error")
    compared = 0
    for method, path, body in [*ENDPOINTS, ("GET", "/api/search?q=secret&room={room}", None)]:
        if path == "/api/rooms" and method == "POST":
            body = {"name": "{room}", "private": True}
        elif "{room}" not in path:
            continue
        held = outsider_answer(client, carol, method, path, body, hidden)
        free = outsider_answer(client, carol, method, path, body, nobody)
        assert held == free, f"{method} {path}"
        assert held[0] in (404, 422), f"{method} {path}: {held}"
        compared += 1
    assert compared == 2 + sum("{room}" in path for _, path, _ in ENDPOINTS)
    for method, path in [("GET", "/api/rooms"), ("GET", "/api/search?q=secret")]:
        assert hidden["room"] not in call(client, method, path, token=carol.token).get_data(
            as_text=True
        )


def test_a_non_members_socket_events_get_what_a_name_nobody_holds_gets(socket_for, hidden, carol):
    nobody = {**hidden, "room": server_chosen_name()}
    sock = socket_for(carol)
    for event, payload in EVENTS:
        if "room" not in payload:
            continue
        held = sock.emit(event, fill(payload, **hidden), callback=True)
        free = sock.emit(event, fill(payload, **nobody), callback=True)
        assert_error_ack(held, "not_found")
        assert str(held).replace(hidden["room"], "ROOM") == str(free).replace(
            nobody["room"], "ROOM"
        ), event


def test_a_user_chosen_name_can_still_be_probed_one_attempt_at_a_time(
    client, make_room, alice, bob, carol
):
    """What the server-chosen names are for: a name a user chose answers `409` to
    anyone's create (the same for a public room, a private room and a DM), while a
    name nobody holds is created."""
    make_room(alice, "plaza")
    make_room(alice, "secret1", private=True)
    dm = call(client, "POST", "/api/dm/bob", token=alice.token).get_json()["name"]
    answers = []
    for name in ("plaza", "secret1"):
        response = call(client, "POST", "/api/rooms", {"name": name}, carol.token)
        error = assert_error(response, 409, "conflict")
        answers.append(error["message"].replace(name, "ROOM"))
    assert answers[0] == answers[1]
    assert_error(
        call(client, "POST", "/api/rooms", {"name": dm}, carol.token), 422, "validation_error"
    )
    assert call(client, "POST", "/api/rooms", {"name": "secret2"}, carol.token).status_code == 201


# --- members use the name like any other ------------------------------------------


def test_members_use_a_server_chosen_name_in_every_path(client, hidden, alice, bob, carol):
    room, msg = hidden["room"], hidden["msg"]
    base = f"/api/rooms/{room}"
    steps = [
        (bob, "GET", base, None, 200),
        (bob, "GET", f"{base}/members", None, 200),
        (bob, "GET", f"{base}/messages", None, 200),
        (bob, "POST", f"{base}/messages", {"body": "got it", "client_id": "b1"}, 201),
        (bob, "POST", f"{base}/read", {"message_id": msg}, 204),
        (bob, "PUT", f"{base}/settings", {"muted": True}, 200),
        (bob, "PUT", f"/api/messages/{msg}/reactions/%3Atada%3A", None, 200),
        (bob, "GET", f"/api/messages/{msg}/thread", None, 200),
        (bob, "GET", f"/api/search?q=secret&room={room}", None, 200),
        (bob, "GET", f"{base}/export", None, 200),
        (alice, "PATCH", base, {"topic": "plans"}, 200),
        (alice, "PUT", f"{base}/pins/{msg}", None, 200),
        (bob, "GET", f"{base}/pins", None, 200),
        (alice, "PUT", f"{base}/members/bob", {"role": "admin"}, 200),
        (bob, "POST", f"{base}/invites", {"max_uses": 1}, 201),
        (bob, "GET", f"{base}/invites", None, 200),
        (alice, "GET", f"{base}/audit", None, 200),
        (bob, "POST", f"{base}/members", {"username": "carol"}, 200),
        (carol, "GET", base, None, 200),
        (carol, "DELETE", f"{base}/members/me", None, 204),
    ]
    for user, method, path, body, status in steps:
        response = call(client, method, path, body, user.token)
        assert response.status_code == status, (method, path, response.get_json())
    found = call(client, "GET", f"/api/search?q=secret&room={room}", token=bob.token).get_json()
    assert [m["room"] for m in found["messages"]] == [room]
    listed = call(client, "GET", "/api/rooms", token=bob.token).get_json()["rooms"]
    assert room in [r["name"] for r in listed]


def test_members_join_a_server_named_room_over_socketio(client, socket_for, hidden, alice, bob):
    room = hidden["room"]
    sock = socket_for(bob)
    ack = sock.emit("join", {"room": room}, callback=True)
    assert ack["ok"] is True, ack
    assert ack["room"]["name"] == room
    sock.get_received()
    sent = call(client, "POST", f"/api/rooms/{room}/messages", {"body": "live"}, alice.token)
    assert sent.status_code == 201
    assert [m["body"] for m in sock.events("message")] == ["live"]
    ack = sock.emit("send", {"room": room, "body": "back", "client_id": "s1"}, callback=True)
    assert ack["ok"] is True and ack["message"]["room"] == room, ack
    ack = sock.emit("sync", {"room": room, "after": 0}, callback=True)
    assert [m["body"] for m in ack["messages"]] == ["secret plans", "live", "back"]
