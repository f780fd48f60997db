"""Floods: the contract's per-user limits on everything a user
can repeat, the room list for a user in very many rooms, and `unavailable`
only for real outages."""

import sqlite3

import pytest
from sqlalchemy import insert
from sqlalchemy.exc import OperationalError
from unit_helpers import assert_error, assert_error_ack

from app.errors import ApiError, is_database_down
from app.extensions import db
from app.models import Membership, Message, Room
from app.ratelimit import LIMITED_SOCKET_EVENTS, LIMITS, check_allowed


def test_the_21st_room_in_an_hour_is_rate_limited_and_others_unaffected(client, alice, bob):
    for n in range(20):
        response = client.post("/api/rooms", headers=alice.headers, json={"name": f"r{n}"})
        assert response.status_code == 201, response.get_json()
    response = client.post("/api/rooms", headers=alice.headers, json={"name": "r20"})
    assert_error(response, 429, "rate_limited")
    assert int(response.headers["Retry-After"]) >= 1
    assert client.post("/api/rooms", headers=bob.headers, json={"name": "b0"}).status_code == 201


@pytest.mark.parametrize(
    "event, payload",
    [
        ("join", {"room": "general"}),
        ("typing", {"room": "general", "typing": True}),
        ("sync", {"room": "general", "after": 0}),
    ],
)
def test_a_burst_of_30_socket_events_passes_and_the_31st_is_rate_limited(
    alice, make_room, socket_for, event, payload
):
    make_room(alice, "general")
    socket = socket_for(alice)
    for _ in range(30):
        assert socket.emit(event, payload, callback=True)["ok"] is True
    assert_error_ack(socket.emit(event, payload, callback=True), "rate_limited")
    # Each event has its own budget.
    other = "read" if event != "read" else "join"
    assert "rate_limited" not in str(
        socket.emit(other, {"room": "general", "message_id": 1}, callback=True)
    )


def test_read_events_are_limited_too(alice, make_room, send, socket_for):
    make_room(alice, "general")
    message_id = send(alice, "general", "hi").get_json()["id"]
    socket = socket_for(alice)
    for _ in range(30):
        assert (
            socket.emit("read", {"room": "general", "message_id": message_id}, callback=True)["ok"]
            is True
        )
    assert_error_ack(
        socket.emit("read", {"room": "general", "message_id": message_id}, callback=True),
        "rate_limited",
    )


def test_every_event_the_contract_limits_is_limited_in_the_one_table():
    # react is counted by the domain, for REST and Socket.IO together.
    assert LIMITED_SOCKET_EVENTS == {"join", "typing", "read", "sync"}
    assert {"send", "create_room", "socket_event", "connect", "react", "search"} <= set(LIMITS)


def test_the_31st_connect_in_a_minute_is_refused_as_rate_limited(alice, bob, socket_for):
    for _ in range(30):
        socket = socket_for(alice)
        assert socket.is_connected()
        socket.disconnect()
    refused = socket_for(alice)
    assert not refused.is_connected()
    assert_error_ack(refused.connect_errors[0]["data"], "rate_limited")
    assert socket_for(bob).is_connected()


def test_search_has_its_limit_in_the_same_place(app, alice):
    with app.test_request_context():
        for _ in range(10):
            check_allowed("search", alice.user["id"])
        with pytest.raises(ApiError) as refused:
            check_allowed("search", alice.user["id"])
    assert refused.value.code == "rate_limited"


# --- the room list for a user in very many rooms -------------------------------------


def test_room_list_of_a_member_of_1200_rooms_is_one_query_that_works(app, client, alice, bob):
    with app.app_context():
        db.session.execute(
            insert(Room),
            [{"name": f"room-{n:04}", "title": "", "kind": "public"} for n in range(1200)],
        )
        rooms = dict(db.session.execute(db.select(Room.name, Room.id)).all())
        db.session.execute(
            insert(Membership),
            [
                {"room_id": rid, "user_id": alice.user["id"], "last_read_id": None}
                for rid in rooms.values()
            ],
        )
        db.session.execute(
            insert(Message),
            [
                {"room_id": rooms["room-0007"], "author_id": bob.user["id"], "body": "x"},
                {"room_id": rooms["room-0007"], "author_id": bob.user["id"], "body": "y"},
                {"room_id": rooms["room-1100"], "author_id": alice.user["id"], "body": "mine"},
            ],
        )
        db.session.commit()
    response = client.get("/api/rooms", headers=alice.headers)
    assert response.status_code == 200, response.get_json()
    listed = {r["name"]: r for r in response.get_json()["rooms"]}
    assert len(listed) == 1200
    assert listed["room-0007"]["unread"] == 2
    assert listed["room-1100"]["unread"] == 0
    assert all(r["member"] for r in listed.values())


# --- only real outages are "unavailable" -------------------------------------------


def wrapped(orig):
    return OperationalError("SELECT 1", {}, orig)


def test_a_statement_sqlite_refuses_is_not_an_outage():
    assert not is_database_down(
        wrapped(sqlite3.OperationalError("Expression tree is too large (maximum depth 1000)"))
    )


@pytest.mark.parametrize(
    "orig",
    [
        sqlite3.OperationalError("database is locked"),
        sqlite3.OperationalError("unable to open database file"),
        ConnectionRefusedError("could not connect to server"),
    ],
)
def test_a_database_that_cannot_serve_is_an_outage(orig):
    assert is_database_down(wrapped(orig))


class _PgError(Exception):
    def __init__(self, pgcode):
        super().__init__(pgcode)
        self.pgcode = pgcode


@pytest.mark.parametrize(
    "pgcode, down",
    [
        ("08006", True),  # connection failure
        ("57P01", True),  # admin shutdown
        ("53300", True),  # too many connections
        ("54001", False),  # statement too complex
        ("42601", False),  # syntax error
    ],
)
def test_postgresql_errors_are_outages_by_their_sqlstate_class(pgcode, down):
    assert is_database_down(wrapped(_PgError(pgcode))) is down
