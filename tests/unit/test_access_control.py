"""Who may do what, table-driven: every REST endpoint and every Socket.IO event
without a token, with a bad one, with an expired one, and as a valid user who
is not a member; private rooms leak nothing; only authors edit or delete.

Tokens are expired by signing them, with the app's own key and salt, at a time
further back than TOKEN_TTL_SECONDS (itsdangerous takes the signer's timestamp).
"""

import io
import time

import pytest
from itsdangerous import TimestampSigner, URLSafeTimedSerializer
from unit_helpers import assert_error, assert_error_ack

from app.extensions import db
from app.models import Message

# Every operation of the REST API that needs a token. {room}, {msg} and {user}
# are filled in per test. (test_every_token_operation_is_in_the_table keeps it
# complete against the OpenAPI document.)
ENDPOINTS = [
    ("GET", "/api/me", None),
    ("GET", "/api/users?q=a", None),
    ("GET", "/api/rooms", None),
    ("POST", "/api/rooms", {"name": "brand-new"}),
    ("GET", "/api/rooms/{room}", None),
    ("POST", "/api/rooms/{room}/members", None),
    ("DELETE", "/api/rooms/{room}/members/me", None),
    ("GET", "/api/rooms/{room}/members", None),
    ("GET", "/api/rooms/{room}/messages", None),
    ("POST", "/api/rooms/{room}/messages", {"body": "hello", "client_id": "c1"}),
    ("POST", "/api/rooms/{room}/read", {"message_id": "{msg}"}),
    ("PATCH", "/api/messages/{msg}", {"body": "edited"}),
    ("DELETE", "/api/messages/{msg}", None),
    ("POST", "/api/dm/{user}", None),
    ("PUT", "/api/messages/{msg}/reactions/%3Atada%3A", None),
    ("DELETE", "/api/messages/{msg}/reactions/%3Atada%3A", None),
    ("GET", "/api/search?q=secret", None),
    ("PUT", "/api/me/password", {"current_password": "x" * 8, "new_password": "y" * 8}),
    ("GET", "/api/messages/{msg}/thread", None),
    ("PUT", "/api/rooms/{room}/settings", {"muted": True}),
    ("POST", "/api/auth/logout", None),
    ("POST", "/api/uploads", None),
    ("GET", "/api/files/{file}", None),
    ("GET", "/api/files/{file}/thumbnail", None),
    ("PATCH", "/api/rooms/{room}", {"topic": "new topic"}),
    ("PUT", "/api/rooms/{room}/members/{user}", {"role": "admin"}),
    ("DELETE", "/api/rooms/{room}/members/{user}", None),
    ("GET", "/api/rooms/{room}/bans", None),
    ("PUT", "/api/rooms/{room}/bans/{user}", None),
    ("DELETE", "/api/rooms/{room}/bans/{user}", None),
    ("GET", "/api/rooms/{room}/pins", None),
    ("PUT", "/api/rooms/{room}/pins/{msg}", None),
    ("DELETE", "/api/rooms/{room}/pins/{msg}", None),
    ("GET", "/api/rooms/{room}/audit", None),
    ("POST", "/api/rooms/{room}/invites", {"max_uses": 1}),
    ("GET", "/api/rooms/{room}/invites", None),
    ("DELETE", "/api/rooms/{room}/invites/nosuchtoken", None),
    ("POST", "/api/invites/nosuchtoken", None),
    ("GET", "/api/rooms/{room}/export", None),
    ("POST", "/api/bots", {"username": "newbot"}),
    ("GET", "/api/bots", None),
    ("DELETE", "/api/bots/{user}", None),
    ("POST", "/api/bots/{user}/token", None),
    ("POST", "/api/rooms/{room}/webhooks", {"bot": "nosuchbot"}),
    ("GET", "/api/rooms/{room}/webhooks", None),
    ("DELETE", "/api/rooms/{room}/webhooks/1", None),
]
EVENTS = [
    ("join", {"room": "{room}"}),
    ("send", {"room": "{room}", "body": "hello", "client_id": "c1"}),
    ("typing", {"room": "{room}", "typing": True}),
    ("read", {"room": "{room}", "message_id": "{msg}"}),
    ("sync", {"room": "{room}", "after": 0}),
    ("react", {"message_id": "{msg}", "emoji": ":tada:", "on": True}),
]
ROOM_EVENTS = (
    "message",
    "message_edited",
    "message_deleted",
    "typing",
    "presence",
    "read",
    "reaction",
    "mention",
)


def fill(template, **values):
    """The template with {room}, {msg} and {user} filled in (ids stay integers)."""
    if isinstance(template, str):
        if template.strip("{}") in values and template.startswith("{"):
            return values[template.strip("{}")]
        return template.format(**values)
    if isinstance(template, dict):
        return {k: fill(v, **values) for k, v in template.items()}
    return template


def call(client, method, path, body=None, token=None):
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    return client.open(path, method=method, json=body, headers=headers)


def expired_token(app, user_id):
    """A token signed like the app's, TOKEN_TTL_SECONDS + 60 seconds ago."""
    then = int(time.time()) - app.config["TOKEN_TTL_SECONDS"] - 60

    class Past(TimestampSigner):
        def get_timestamp(self):
            return then

    return URLSafeTimedSerializer(app.config["SECRET_KEY"], salt="auth-token", signer=Past).dumps(
        {"uid": user_id}
    )


@pytest.fixture
def private(client, make_room, send, alice, bob):
    """A private room of alice and bob with one message by alice."""
    make_room(alice, "hideout", private=True)
    response = client.post(
        "/api/rooms/hideout/members", headers=alice.headers, json={"username": "bob"}
    )
    assert response.status_code == 200
    message = send(alice, "hideout", "secret plans", client_id="m1").get_json()
    png = b"\x89PNG\r\n\x1a\n" + b"secret plans" * 4
    uploaded = client.post(
        "/api/uploads",
        headers=alice.headers,
        data={"file": (io.BytesIO(png), "plans.png")},
        content_type="multipart/form-data",
    ).get_json()
    attached = client.post(
        "/api/rooms/hideout/messages",
        headers=alice.headers,
        json={"body": "the plans", "attachments": [uploaded["id"]]},
    )
    assert attached.status_code == 201
    return {"room": "hideout", "msg": message["id"], "user": "bob", "file": uploaded["id"]}


def stored_state(app):
    with app.app_context():
        return [
            (m.id, m.body, m.deleted_at)
            for m in db.session.scalars(db.select(Message).order_by(Message.id))
        ]


# --- the table is complete -----------------------------------------------------


def test_every_token_operation_is_in_the_table(client):
    spec = client.get("/api/openapi.json").get_json()
    documented = {
        (method.upper(), path)
        for path, item in spec["paths"].items()
        for method, operation in item.items()
        if isinstance(operation, dict) and operation.get("security")
    }
    table = {
        (
            method,
            path.split("?")[0]
            .replace("{msg}", "{message_id}")
            .replace("{user}", "{username}")
            .replace("{room}", "{name}")
            .replace("{file}", "{file_id}")
            .replace("%3Atada%3A", "{emoji}")
            .replace("nosuchtoken", "{token}")
            .replace("/webhooks/1", "/webhooks/{webhook_id}"),
        )
        for method, path, _ in ENDPOINTS
    }
    assert documented == table


# --- no token, a bad token, an expired token -------------------------------------

BAD_TOKENS = {
    "none": None,
    "empty": "",
    "garbage": "not-a-token",
    "tampered": "TAMPER",
    "other_secret": "OTHER",
    "expired": "EXPIRED",
}


def _bad_token(kind, app, alice):
    if kind == "tampered":
        head, _, tail = alice.token.rpartition(".")
        return head + "." + ("A" if tail[0] != "A" else "B") + tail[1:]
    if kind == "other_secret":
        return URLSafeTimedSerializer("another-secret", salt="auth-token").dumps(
            {"uid": alice.user["id"]}
        )
    if kind == "expired":
        return expired_token(app, alice.user["id"])
    return BAD_TOKENS[kind]


@pytest.mark.parametrize("kind", list(BAD_TOKENS))
@pytest.mark.parametrize("method,path,body", ENDPOINTS, ids=[f"{m} {p}" for m, p, _ in ENDPOINTS])
def test_rest_without_a_valid_token_is_401_and_changes_nothing(
    app, client, private, alice, kind, method, path, body
):
    before = stored_state(app)
    token = _bad_token(kind, app, alice)
    response = call(client, method, fill(path, **private), fill(body, **private), token)
    error = assert_error(response, 401, "unauthorized")
    if kind == "expired":
        assert "expired" in error["message"]
    assert stored_state(app) == before


@pytest.mark.parametrize("kind", list(BAD_TOKENS))
@pytest.mark.parametrize("where", ["auth", "query"])
def test_socket_connect_without_a_valid_token_is_refused(app, socket_for, alice, kind, where):
    token = _bad_token(kind, app, alice)
    if where == "auth":
        sock = socket_for(auth={"token": token} if token is not None else None)
    else:
        sock = socket_for(auth=None, query_string=f"token={token}" if token is not None else "")
    assert not sock.is_connected()
    [refusal] = sock.connect_errors
    error = assert_error_ack(refusal["data"], "unauthorized")
    if kind == "expired":
        assert "expired" in error["message"]


def test_a_token_just_inside_its_lifetime_still_works(app, client, alice):
    then = int(time.time()) - app.config["TOKEN_TTL_SECONDS"] + 60

    class Recent(TimestampSigner):
        def get_timestamp(self):
            return then

    token = URLSafeTimedSerializer(
        app.config["SECRET_KEY"], salt="auth-token", signer=Recent
    ).dumps({"uid": alice.user["id"]})
    assert call(client, "GET", "/api/me", token=token).status_code == 200


# --- a valid token of someone who is not a member -------------------------------

# What a non-member gets from each endpoint for a private room (and its message):
# the room and everything in it is invisible (404); rooms, users and DMs answer
# about the caller's own things.
OUTSIDER_PRIVATE = {
    "GET /api/me": 200,
    "GET /api/users?q=a": 200,
    "GET /api/rooms": 200,
    "POST /api/rooms": 201,
    "GET /api/rooms/{room}": 404,
    "POST /api/rooms/{room}/members": 404,
    "DELETE /api/rooms/{room}/members/me": 404,
    "GET /api/rooms/{room}/members": 404,
    "GET /api/rooms/{room}/messages": 404,
    "POST /api/rooms/{room}/messages": 404,
    "POST /api/rooms/{room}/read": 404,
    "PATCH /api/messages/{msg}": 404,
    "DELETE /api/messages/{msg}": 404,
    "POST /api/dm/{user}": 200,
    "PUT /api/messages/{msg}/reactions/%3Atada%3A": 404,
    "DELETE /api/messages/{msg}/reactions/%3Atada%3A": 404,
    "GET /api/search?q=secret": 200,  # and finds nothing of the private room
    "PUT /api/me/password": 422,  # the current password is wrong
    "GET /api/messages/{msg}/thread": 404,
    "PUT /api/rooms/{room}/settings": 404,
    "POST /api/auth/logout": 204,
    "POST /api/uploads": 422,  # no file in it
    "GET /api/files/{file}": 404,
    "GET /api/files/{file}/thumbnail": 404,
    "PATCH /api/rooms/{room}": 404,
    "PUT /api/rooms/{room}/members/{user}": 404,
    "DELETE /api/rooms/{room}/members/{user}": 404,
    "GET /api/rooms/{room}/bans": 404,
    "PUT /api/rooms/{room}/bans/{user}": 404,
    "DELETE /api/rooms/{room}/bans/{user}": 404,
    "GET /api/rooms/{room}/pins": 404,
    "PUT /api/rooms/{room}/pins/{msg}": 404,
    "DELETE /api/rooms/{room}/pins/{msg}": 404,
    "GET /api/rooms/{room}/audit": 404,
    "POST /api/rooms/{room}/invites": 404,
    "GET /api/rooms/{room}/invites": 404,
    "DELETE /api/rooms/{room}/invites/nosuchtoken": 404,
    "POST /api/invites/nosuchtoken": 404,
    "GET /api/rooms/{room}/export": 404,
    "POST /api/bots": 201,
    "GET /api/bots": 200,
    "DELETE /api/bots/{user}": 404,  # not the caller's bot
    "POST /api/bots/{user}/token": 404,
    "POST /api/rooms/{room}/webhooks": 404,
    "GET /api/rooms/{room}/webhooks": 404,
    "DELETE /api/rooms/{room}/webhooks/1": 404,
}


@pytest.mark.parametrize("method,path,body", ENDPOINTS, ids=[f"{m} {p}" for m, p, _ in ENDPOINTS])
def test_rest_as_a_non_member_of_a_private_room(app, client, private, carol, method, path, body):
    before = stored_state(app)
    response = call(client, method, fill(path, **private), fill(body, **private), carol.token)
    expected = OUTSIDER_PRIVATE[f"{method} {path}"]
    if expected == 404:
        assert_error(response, 404, "not_found")
        assert "secret plans" not in response.get_data(as_text=True)
        assert stored_state(app) == before
    else:
        assert response.status_code == expected, response.get_json()
        assert "hideout" not in response.get_data(as_text=True)
        assert "secret plans" not in response.get_data(as_text=True)


def test_add_member_to_a_private_room_by_a_non_member_is_404(client, private, carol):
    response = call(
        client, "POST", "/api/rooms/hideout/members", {"username": "carol"}, carol.token
    )
    assert_error(response, 404, "not_found")
    assert call(client, "GET", "/api/rooms/hideout", token=carol.token).status_code == 404


def test_dm_of_two_others_is_invisible(client, alice, bob, carol):
    dm = call(client, "POST", "/api/dm/bob", token=alice.token).get_json()
    sent = call(
        client, "POST", f"/api/rooms/{dm['name']}/messages", {"body": "just us"}, alice.token
    ).get_json()
    for method, path, body in ENDPOINTS:
        if "{room}" not in path and "{msg}" not in path:
            continue
        response = call(
            client,
            method,
            fill(path, room=dm["name"], msg=sent["id"], user="x"),
            fill(body, room=dm["name"], msg=sent["id"], user="x"),
            carol.token,
        )
        assert_error(response, 404, "not_found")
    listed = call(client, "GET", "/api/rooms", token=carol.token).get_json()["rooms"]
    assert dm["name"] not in [r["name"] for r in listed]


# A public room the caller has not joined: visible, but reading, sending,
# marking read and typing need membership (403); joining is allowed.
OUTSIDER_PUBLIC = {
    "GET /api/rooms/{room}": 200,
    "GET /api/rooms/{room}/members": 200,
    "GET /api/rooms/{room}/messages": 403,
    "POST /api/rooms/{room}/messages": 403,
    "POST /api/rooms/{room}/read": 403,
    "DELETE /api/rooms/{room}/members/me": 204,
    "PUT /api/messages/{msg}/reactions/%3Atada%3A": 403,
    "DELETE /api/messages/{msg}/reactions/%3Atada%3A": 403,
}


@pytest.mark.parametrize("endpoint", list(OUTSIDER_PUBLIC))
def test_rest_as_a_non_member_of_a_public_room(
    app, client, make_room, send, alice, carol, endpoint
):
    make_room(alice, "plaza")
    message = send(alice, "plaza", "public words").get_json()
    before = stored_state(app)
    method, path = endpoint.split(" ")
    body = next(b for m, p, b in ENDPOINTS if m == method and p == path)
    values = {"room": "plaza", "msg": message["id"], "user": "alice"}
    response = call(client, method, fill(path, **values), fill(body, **values), carol.token)
    expected = OUTSIDER_PUBLIC[endpoint]
    if expected == 403:
        assert_error(response, 403, "forbidden")
    else:
        assert response.status_code == expected, response.get_json()
    assert stored_state(app) == before


@pytest.mark.parametrize("event,payload", EVENTS, ids=[e for e, _ in EVENTS])
def test_socket_events_as_a_non_member_of_a_private_room_are_not_found(
    app, socket_for, private, carol, event, payload
):
    before = stored_state(app)
    sock = socket_for(carol)
    ack = sock.emit(event, fill(payload, **private), callback=True)
    assert_error_ack(ack, "not_found")
    assert stored_state(app) == before


@pytest.mark.parametrize(
    "event,payload,code",
    [
        ("send", EVENTS[1][1], "forbidden"),
        ("typing", EVENTS[2][1], "forbidden"),
        ("read", EVENTS[3][1], "forbidden"),
        ("sync", EVENTS[4][1], "forbidden"),
        ("react", EVENTS[5][1], "forbidden"),
    ],
    ids=["send", "typing", "read", "sync", "react"],
)
def test_socket_events_as_a_non_member_of_a_public_room_are_forbidden(
    app, socket_for, make_room, send, alice, carol, event, payload, code
):
    make_room(alice, "plaza")
    message = send(alice, "plaza", "public words").get_json()
    sock = socket_for(carol)
    ack = sock.emit(event, fill(payload, room="plaza", msg=message["id"]), callback=True)
    assert_error_ack(ack, code)


def test_private_room_sends_nothing_live_to_a_non_member(
    client, socket_for, private, alice, bob, carol
):
    outsider = socket_for(carol)
    for event, payload in EVENTS:  # tries everything first; all refused
        outsider.emit(event, fill(payload, **private), callback=True)
    outsider.get_received()
    owner = socket_for(alice)
    assert owner.emit("join", {"room": "hideout"}, callback=True)["ok"] is True
    member = socket_for(bob)  # presence: bob comes online in hideout
    assert member.emit("join", {"room": "hideout"}, callback=True)["ok"] is True
    owner.emit("typing", {"room": "hideout", "typing": True}, callback=True)
    sent = owner.emit(
        "send",
        {"room": "hideout", "body": "live secret @bob @carol", "client_id": "l1"},
        callback=True,
    )["message"]
    assert sent["mentions"] == ["bob"]  # carol may not read the room
    member.emit("read", {"room": "hideout", "message_id": sent["id"]}, callback=True)
    member.emit("react", {"message_id": sent["id"], "emoji": ":tada:", "on": True}, callback=True)
    call(client, "PATCH", f"/api/messages/{sent['id']}", {"body": "edited secret"}, alice.token)
    call(client, "DELETE", f"/api/messages/{sent['id']}", token=alice.token)
    seen_by_member = {item["name"] for item in member.get_received()}
    member.disconnect()  # presence: bob goes offline
    seen_by_owner = {item["name"] for item in owner.get_received()}

    # Every kind of room event did go out to the members...
    assert {
        "typing",
        "message",
        "message_edited",
        "message_deleted",
        "read",
        "reaction",
        "mention",
    } <= seen_by_member
    assert "presence" in seen_by_owner
    # ...and none of them to the outsider.
    received = outsider.get_received()
    assert [item for item in received if item["name"] in ROOM_EVENTS] == [], received


# --- only authors change messages ---------------------------------------------------


@pytest.mark.parametrize("method,body", [("PATCH", {"body": "not yours"}), ("DELETE", None)])
def test_only_the_author_edits_or_deletes(app, client, private, bob, alice, method, body):
    before = stored_state(app)
    response = call(client, method, f"/api/messages/{private['msg']}", body, bob.token)
    assert_error(response, 403, "forbidden")
    assert stored_state(app) == before
    response = call(client, method, f"/api/messages/{private['msg']}", body, alice.token)
    assert response.status_code == 200, response.get_json()
    assert stored_state(app) != before
