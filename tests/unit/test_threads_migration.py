"""Migration 0006 (threads and mute) on SQLite: down and up again, data kept."""

import pytest
from flask_migrate import downgrade, upgrade
from sqlalchemy import inspect

from app.extensions import db


@pytest.fixture
def migrated():
    return True


def test_down_to_0005_and_up_again_keeps_replies_working(app, client, register, make_room, send):
    with app.app_context():
        downgrade(revision="0005_files")
        assert "muted" not in {c["name"] for c in inspect(db.engine).get_columns("memberships")}
        upgrade()
        assert "muted" in {c["name"] for c in inspect(db.engine).get_columns("memberships")}
    alice = register("alice")
    make_room(alice, "lounge")
    parent = send(alice, "lounge", "hello").get_json()
    reply = client.post(
        "/api/rooms/lounge/messages",
        headers=alice.headers,
        json={"body": "hi", "reply_to": parent["id"]},
    )
    assert reply.status_code == 201 and reply.get_json()["reply_to"]["id"] == parent["id"]
    found = client.get("/api/search?q=hello", headers=alice.headers).get_json()
    assert [m["id"] for m in found["messages"]] == [parent["id"]]  # the triggers survived
