"""Rooms, their members, read markers and direct messages."""

from typing import Any

from flask import g

from app import chat
from app.api import api_blueprint, authenticated
from app.schemas import (
    MemberAddSchema,
    MemberListSchema,
    ReadSchema,
    RoomCreateSchema,
    RoomListSchema,
    RoomSchema,
    RoomSettingsSchema,
)

blp = api_blueprint("rooms", __name__, "/api", "Rooms, members and direct messages")


@blp.route("/rooms", methods=["GET"])
@authenticated(blp)
@blp.response(200, RoomListSchema)
def list_rooms() -> dict[str, Any]:
    """Public rooms and the private rooms I am in."""
    return {"rooms": chat.list_rooms(g.user)}


@blp.route("/rooms", methods=["POST"])
@authenticated(blp, 409, 422, 429)
@blp.arguments(RoomCreateSchema)
@blp.response(201, RoomSchema)
def create_room(data: dict[str, Any]) -> dict[str, Any]:
    """Create a room; its creator joins it.

    A private room created without `name` gets a name the server chooses
    (`p-` and 22 random characters), which nobody outside the room can guess
    or probe: a name starting with `p-` or `dm-` is `422` for everyone, so the
    answer never says whether a room holds it. A name already taken is `409`,
    the same for a public room and a private room."""
    room = chat.create_room(g.user, data.get("name"), data["title"], data["private"])
    return chat.room_view(g.user, room)


@blp.route("/rooms/<name>", methods=["GET"])
@authenticated(blp, 404)
@blp.response(200, RoomSchema)
def get_room(name: str) -> dict[str, Any]:
    """One room."""
    return chat.room_view(g.user, chat.visible_room(g.user, name))


@blp.route("/rooms/<name>/members", methods=["POST"])
@authenticated(blp, 403, 404, 422)
@blp.arguments(MemberAddSchema(partial=True), required=False)
@blp.response(200, RoomSchema)
def add_member(data: dict[str, Any] | None, name: str) -> dict[str, Any]:
    """Join a public room (no body), or add a user to a private room I am in."""
    if data and data.get("username"):
        room = chat.add_member(g.user, name, data["username"])
    else:
        room = chat.join_room(g.user, name)
    return chat.room_view(g.user, room)


@blp.route("/rooms/<name>/members/me", methods=["DELETE"])
@authenticated(blp, 404)
@blp.response(204)
def leave(name: str) -> None:
    """Leave a room."""
    chat.leave_room(g.user, name)


@blp.route("/rooms/<name>/members", methods=["GET"])
@authenticated(blp, 404)
@blp.response(200, MemberListSchema)
def list_members(name: str) -> dict[str, Any]:
    """Members of a room, each with whether they are online on any instance."""
    return {"members": chat.list_members(g.user, name)}


@blp.route("/rooms/<name>/read", methods=["POST"])
@authenticated(blp, 403, 404, 422)
@blp.arguments(ReadSchema)
@blp.response(204)
def mark_read(data: dict[str, Any], name: str) -> None:
    """Mark the room read up to a message (never moves back)."""
    chat.mark_read(g.user, name, data["message_id"])


@blp.route("/dm/<username>", methods=["POST"])
@authenticated(blp, 403, 404)
@blp.response(200, RoomSchema)
def direct_message(username: str) -> dict[str, Any]:
    """Get or create the private two-person room with a user."""
    return chat.room_view(g.user, chat.get_or_create_dm(g.user, username))


@blp.route("/rooms/<name>/settings", methods=["PUT"])
@authenticated(blp, 403, 404, 422)
@blp.arguments(RoomSettingsSchema)
@blp.response(200, RoomSchema)
def settings(data: dict[str, Any], name: str) -> dict[str, Any]:
    """My own settings for a room I am in (`muted`); my other sockets hear
    `room_updated`."""
    return chat.room_view(g.user, chat.update_settings(g.user, name, data["muted"]))
