"""Sending, editing and deleting messages, and who may do it."""

from unit_helpers import assert_error

MESSAGE_KEYS = {
    "id",
    "room",
    "author",
    "body",
    "client_id",
    "created_at",
    "edited_at",
    "deleted",
    "deleted_by",
    "pinned",
    "mentions",
    "reactions",
    "reply_to",
    "thread",
    "attachments",
}


# --- POST /api/rooms/{name}/messages --------------------------------------


def test_send_returns_201_with_the_message(send, lounge, alice):
    response = send(alice, lounge, "hello there", client_id="c-1")
    assert response.status_code == 201
    message = response.get_json()
    assert set(message) == MESSAGE_KEYS
    assert message["room"] == "lounge"
    assert message["author"] == {"username": "alice", "display_name": "Alice"}
    assert message["body"] == "hello there"
    assert message["client_id"] == "c-1"
    assert message["created_at"].endswith("Z")
    assert message["edited_at"] is None
    assert message["deleted"] is False


def test_a_send_is_two_statements_in_one_transaction(client, send, lounge, alice, statements):
    client.get("/api/me", headers=alice.headers)  # the token's user is read, and kept
    del statements[:]
    assert send(alice, lounge, "hello", client_id="c-1").status_code == 201
    # The room, the membership and an earlier send of the client_id in one query (FOR
    # UPDATE OF rooms on PostgreSQL; SQLite has no row locks), then the INSERT.
    first, second = statements
    assert first.startswith("SELECT rooms.") and "JOIN memberships" in first, first
    assert "JOIN messages" in first and "client_id" in first, first
    assert second.startswith("INSERT INTO messages"), second


def test_a_repeated_send_reads_the_first_message_and_writes_nothing(
    send, lounge, alice, statements
):
    send(alice, lounge, "hello", client_id="c-1")
    del statements[:]
    response = send(alice, lounge, "hello", client_id="c-1")
    assert response.status_code == 200
    assert response.get_json()["body"] == "hello"
    assert statements[0].startswith("SELECT rooms."), statements
    assert statements[1].startswith("SELECT messages."), statements
    # Then only the first message's mentions and reactions, for its shape.
    assert not [s for s in statements if s.split()[0] in ("INSERT", "UPDATE", "DELETE")]
    assert len(statements) <= 4, statements


def test_a_send_builds_no_schema(send, lounge, alice, monkeypatch):
    """The body's schema is built once, not per request (app/api/__init__.py)."""
    from marshmallow import Schema

    built, build = [], Schema.__init__

    def counting(self, *args, **kwargs):
        built.append(type(self).__name__)
        build(self, *args, **kwargs)

    monkeypatch.setattr(Schema, "__init__", counting)
    assert send(alice, lounge, "hello", client_id="c-1").status_code == 201
    assert built == []


def test_a_send_shapes_its_message_once(send, lounge, alice, monkeypatch):
    """The broadcast's shape is the reply's (app/schemas.py, shaped_message)."""
    from app.schemas import MessageSchema

    dumped, dump = [], MessageSchema.dump

    def counting(self, obj, *args, **kwargs):
        dumped.append(obj)
        return dump(self, obj, *args, **kwargs)

    monkeypatch.setattr(MessageSchema, "dump", counting)
    reply = send(alice, lounge, "hello", client_id="c-1")
    assert reply.status_code == 201 and reply.get_json()["body"] == "hello"
    assert len(dumped) == 1


def test_send_without_client_id_has_a_null_client_id(send, lounge, alice):
    assert send(alice, lounge).get_json()["client_id"] is None


def test_send_trims_the_body(send, lounge, alice):
    assert send(alice, lounge, "  hi \n").get_json()["body"] == "hi"


def test_message_ids_grow_within_a_room(send, lounge, alice, bob):
    ids = [
        send(user, lounge, f"m{i}").get_json()["id"]
        for i, user in enumerate([alice, bob, alice, bob])
    ]
    assert ids == sorted(ids) and len(set(ids)) == 4


def test_sent_message_appears_in_history(client, send, lounge, alice, bob):
    sent = send(alice, lounge, "hello").get_json()
    history = client.get("/api/rooms/lounge/messages", headers=bob.headers).get_json()
    assert history["messages"] == [sent]


def test_repeated_client_id_returns_200_with_the_same_message(send, lounge, alice):
    first = send(alice, lounge, "hello", client_id="abc")
    again = send(alice, lounge, "hello (retry)", client_id="abc")
    assert first.status_code == 201
    assert again.status_code == 200
    assert again.get_json() == first.get_json()


def test_repeated_client_id_stores_one_message(client, send, lounge, alice):
    send(alice, lounge, "hello", client_id="abc")
    send(alice, lounge, "hello", client_id="abc")
    history = client.get("/api/rooms/lounge/messages", headers=alice.headers).get_json()
    assert len(history["messages"]) == 1


def test_same_client_id_from_another_user_is_another_message(send, lounge, alice, bob):
    mine = send(alice, lounge, "hello", client_id="abc").get_json()
    theirs = send(bob, lounge, "hello", client_id="abc")
    assert theirs.status_code == 201
    assert theirs.get_json()["id"] != mine["id"]


def test_same_client_id_in_another_room_is_another_message(make_room, send, lounge, alice):
    make_room(alice, "other")
    first = send(alice, lounge, "hello", client_id="abc").get_json()
    second = send(alice, "other", "hello", client_id="abc")
    assert second.status_code == 201
    assert second.get_json()["id"] != first["id"]


def test_client_id_over_64_characters_is_422(send, lounge, alice):
    error = assert_error(send(alice, lounge, "hi", client_id="c" * 65), 422, "validation_error")
    assert "client_id" in error["fields"]


def test_send_to_a_public_room_i_have_not_joined_is_403(send, make_room, alice, bob):
    make_room(alice, "lounge")
    assert_error(send(bob, "lounge"), 403, "forbidden")


def test_send_to_a_private_room_i_am_not_in_is_404(send, make_room, alice, bob):
    make_room(alice, "secret", private=True)
    assert_error(send(bob, "secret"), 404, "not_found")


def test_send_to_an_unknown_room_is_404(send, alice):
    assert_error(send(alice, "nowhere"), 404, "not_found")


def test_send_after_leaving_is_403(client, send, lounge, bob):
    client.delete("/api/rooms/lounge/members/me", headers=bob.headers)
    assert_error(send(bob, lounge), 403, "forbidden")


def test_send_needs_a_token(client, lounge):
    response = client.post("/api/rooms/lounge/messages", json={"body": "hi"})
    assert_error(response, 401, "unauthorized")


# --- PATCH /api/messages/{id} ---------------------------------------------


def test_author_edits_a_message(client, send, lounge, alice):
    sent = send(alice, lounge, "helo").get_json()
    response = client.patch(
        f"/api/messages/{sent['id']}", headers=alice.headers, json={"body": " hello "}
    )
    assert response.status_code == 200
    edited = response.get_json()
    assert edited["id"] == sent["id"]
    assert edited["body"] == "hello"
    assert edited["edited_at"].endswith("Z")
    assert edited["created_at"] == sent["created_at"]


def test_edit_shows_in_history(client, send, lounge, alice):
    sent = send(alice, lounge, "helo").get_json()
    client.patch(f"/api/messages/{sent['id']}", headers=alice.headers, json={"body": "hello"})
    history = client.get("/api/rooms/lounge/messages", headers=alice.headers).get_json()
    assert history["messages"][0]["body"] == "hello"


def test_edit_by_someone_else_is_403(client, send, lounge, alice, bob):
    sent = send(alice, lounge, "mine").get_json()
    response = client.patch(
        f"/api/messages/{sent['id']}", headers=bob.headers, json={"body": "yours now"}
    )
    assert_error(response, 403, "forbidden")


def test_edit_of_an_unknown_message_is_404(client, alice):
    response = client.patch("/api/messages/999", headers=alice.headers, json={"body": "x"})
    assert_error(response, 404, "not_found")


def test_edit_in_a_private_room_i_am_not_in_is_404(client, make_room, send, alice, bob):
    make_room(alice, "secret", private=True)
    sent = send(alice, "secret", "psst").get_json()
    response = client.patch(f"/api/messages/{sent['id']}", headers=bob.headers, json={"body": "x"})
    assert_error(response, 404, "not_found")


def test_edit_of_a_deleted_message_is_409(client, send, lounge, alice):
    sent = send(alice, lounge, "oops").get_json()
    client.delete(f"/api/messages/{sent['id']}", headers=alice.headers)
    response = client.patch(
        f"/api/messages/{sent['id']}", headers=alice.headers, json={"body": "back"}
    )
    assert_error(response, 409, "conflict")


def test_edit_to_an_empty_body_is_422(client, send, lounge, alice):
    sent = send(alice, lounge, "text").get_json()
    response = client.patch(
        f"/api/messages/{sent['id']}", headers=alice.headers, json={"body": "   "}
    )
    error = assert_error(response, 422, "validation_error")
    assert "body" in error["fields"]


def test_edit_needs_a_token(client, send, lounge, alice):
    sent = send(alice, lounge, "text").get_json()
    response = client.patch(f"/api/messages/{sent['id']}", json={"body": "x"})
    assert_error(response, 401, "unauthorized")


# --- DELETE /api/messages/{id} --------------------------------------------


def test_author_deletes_a_message(client, send, lounge, alice):
    sent = send(alice, lounge, "oops").get_json()
    response = client.delete(f"/api/messages/{sent['id']}", headers=alice.headers)
    assert response.status_code == 200
    deleted = response.get_json()
    assert deleted["id"] == sent["id"]
    assert deleted["body"] == ""
    assert deleted["deleted"] is True


def test_deleted_message_keeps_its_place_in_history(client, send, lounge, alice):
    ids = [send(alice, lounge, f"m{i}").get_json()["id"] for i in range(3)]
    client.delete(f"/api/messages/{ids[1]}", headers=alice.headers)
    history = client.get("/api/rooms/lounge/messages", headers=alice.headers).get_json()
    messages = history["messages"]
    assert [m["id"] for m in messages] == ids
    assert (messages[1]["body"], messages[1]["deleted"]) == ("", True)


def test_deleting_twice_returns_the_deleted_message(client, send, lounge, alice):
    sent = send(alice, lounge, "oops").get_json()
    client.delete(f"/api/messages/{sent['id']}", headers=alice.headers)
    again = client.delete(f"/api/messages/{sent['id']}", headers=alice.headers)
    assert again.status_code == 200
    assert again.get_json()["deleted"] is True


def test_delete_by_someone_else_is_403(client, send, lounge, alice, bob):
    sent = send(alice, lounge, "mine").get_json()
    response = client.delete(f"/api/messages/{sent['id']}", headers=bob.headers)
    assert_error(response, 403, "forbidden")
    history = client.get("/api/rooms/lounge/messages", headers=alice.headers).get_json()
    assert history["messages"][0]["body"] == "mine"


def test_delete_of_an_unknown_message_is_404(client, alice):
    assert_error(client.delete("/api/messages/999", headers=alice.headers), 404, "not_found")


def test_delete_in_a_private_room_i_am_not_in_is_404(client, make_room, send, alice, bob):
    make_room(alice, "secret", private=True)
    sent = send(alice, "secret", "psst").get_json()
    response = client.delete(f"/api/messages/{sent['id']}", headers=bob.headers)
    assert_error(response, 404, "not_found")


def test_delete_needs_a_token(client, send, lounge, alice):
    sent = send(alice, lounge, "text").get_json()
    assert_error(client.delete(f"/api/messages/{sent['id']}"), 401, "unauthorized")
