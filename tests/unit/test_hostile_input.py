"""Input that used to give a 500 or slip past the limits: deeply
nested JSON, lone UTF-16 surrogates, names ending in a line break, control
characters in titles and display names."""

import pytest
from unit_helpers import PASSWORD, assert_error, assert_error_ack

from app.jsonlimits import MAX_DEPTH

DEEP_TEXT = "[" * 30000 + "]" * 30000  # ~60 KB: RecursionError in json.loads


def nested(levels):
    value = "x"
    for _ in range(levels):
        value = [value]
    return value


# --- deeply nested JSON ---------------------------------------------------------------


@pytest.mark.parametrize("path", ["/api/auth/register", "/api/auth/login"])
def test_rest_body_nested_60kb_deep_is_bad_request(client, path):
    response = client.post(path, data=DEEP_TEXT, content_type="application/json")
    assert_error(response, 400, "bad_request")


def test_rest_body_nested_past_the_limit_is_bad_request(client, alice):
    body = {"body": "hi", "extra": nested(MAX_DEPTH)}  # the object is one more level
    response = client.post("/api/rooms/general/messages", json=body, headers=alice.headers)
    assert_error(response, 400, "bad_request")


def test_rest_body_nested_to_the_limit_is_accepted(client, alice, make_room):
    make_room(alice, "lounge")
    body = {"body": "hi", "extra": nested(MAX_DEPTH - 2)}
    response = client.post("/api/rooms/lounge/messages", json=body, headers=alice.headers)
    assert response.status_code == 201, response.get_json()


def raw_emit(socket, text):
    """Sends `42<id>` + text as one Socket.IO event packet; returns the ack's data."""
    socket.callback_counter += 1
    socket.socketio.server._handle_eio_message(socket.eio_sid, f"2{socket.callback_counter}{text}")
    ack, socket.acks = socket.acks, None
    return ack and ack["args"][0]


def test_socket_payload_nested_60kb_deep_gets_a_bad_request_ack(alice, socket_for):
    socket = socket_for(alice)
    ack = raw_emit(socket, '["join",' + DEEP_TEXT + "]")
    assert_error_ack(ack, "bad_request")
    assert socket.is_connected()
    assert socket.emit("join", {"room": "nope"}, callback=True)["error"]["code"] == "not_found"


def test_socket_payload_nested_past_the_limit_gets_a_bad_request_ack(alice, socket_for):
    socket = socket_for(alice)
    ack = socket.emit(
        "typing", {"room": "x", "typing": True, "more": nested(MAX_DEPTH + 5)}, callback=True
    )
    assert_error_ack(ack, "bad_request")


def test_socket_connect_auth_nested_too_deep_is_refused_as_unauthorized(app, socket_for):
    socket = socket_for(auth={"token": nested(MAX_DEPTH + 5)})
    assert not socket.is_connected()
    assert socket.connect_errors[0]["data"]["error"]["code"] == "unauthorized"


# --- lone surrogates ----------------------------------------------------------------

LONE = "\ud800"


def test_lone_surrogate_in_a_message_body_is_a_validation_error(client, alice, make_room):
    make_room(alice, "lounge")
    response = client.post(
        "/api/rooms/lounge/messages",
        headers=alice.headers,
        data='{"body": "a\\ud800b"}',
        content_type="application/json",
    )
    error = assert_error(response, 422, "validation_error")
    assert "body" in error["fields"]


@pytest.mark.parametrize("field", ["display_name", "password"])
def test_lone_surrogate_in_registration_is_a_validation_error(client, field):
    body = {"username": "dave", "password": PASSWORD, field: f"abc{LONE}defgh"}
    error = assert_error(client.post("/api/auth/register", json=body), 422, "validation_error")
    assert field in error["fields"]


def test_lone_surrogate_in_a_room_title_is_a_validation_error(client, alice):
    response = client.post(
        "/api/rooms", headers=alice.headers, json={"name": "lounge", "title": f"t{LONE}"}
    )
    assert "title" in assert_error(response, 422, "validation_error")["fields"]


def test_lone_surrogate_in_a_socket_send_is_a_validation_error(alice, socket_for, make_room):
    make_room(alice, "lounge")
    socket = socket_for(alice)
    ack = socket.emit(
        "send", {"room": "lounge", "body": f"hi{LONE}", "client_id": "c1"}, callback=True
    )
    assert "body" in assert_error_ack(ack, "validation_error")["fields"]


def test_lone_surrogate_in_a_login_password_is_a_validation_error(client, alice):
    response = client.post("/api/auth/login", json={"username": "alice", "password": LONE * 9})
    assert_error(response, 422, "validation_error")


# --- names ending in a line break; control characters ----------------------------------


@pytest.mark.parametrize("username", ["bob\n", "bob\r\n", "bob\t", " bob"])
def test_username_with_whitespace_or_a_final_line_break_is_refused(client, username):
    response = client.post("/api/auth/register", json={"username": username, "password": PASSWORD})
    assert "username" in assert_error(response, 422, "validation_error")["fields"]


@pytest.mark.parametrize("name", ["general\n", "general\r", "gen\neral"])
def test_room_name_ending_in_or_holding_a_line_break_is_refused(client, alice, name):
    response = client.post("/api/rooms", headers=alice.headers, json={"name": name})
    assert "name" in assert_error(response, 422, "validation_error")["fields"]


def test_display_name_and_title_refuse_control_characters(client, alice):
    response = client.post(
        "/api/auth/register",
        json={"username": "dave", "password": PASSWORD, "display_name": "Dave\x1b[31m"},
    )
    assert "display_name" in assert_error(response, 422, "validation_error")["fields"]
    response = client.post(
        "/api/rooms", headers=alice.headers, json={"name": "lounge", "title": "line\nbreak"}
    )
    assert "title" in assert_error(response, 422, "validation_error")["fields"]


def test_body_keeps_line_breaks_and_tabs_but_refuses_other_control_characters(
    client, alice, make_room
):
    make_room(alice, "lounge")
    ok = client.post(
        "/api/rooms/lounge/messages", headers=alice.headers, json={"body": "one\n\ttwo"}
    )
    assert ok.status_code == 201 and ok.get_json()["body"] == "one\n\ttwo"
    response = client.post(
        "/api/rooms/lounge/messages", headers=alice.headers, json={"body": "bell\x07"}
    )
    assert "body" in assert_error(response, 422, "validation_error")["fields"]
