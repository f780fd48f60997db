"""Running a room: title and topic, roles, kicks, bans, pins and the audit log."""

from typing import Any

from flask import g

from app.api import api_blueprint, authenticated
from app.chat import audit, moderation, room_view
from app.schemas import (
    AuditPageSchema,
    AuditQuerySchema,
    MessageSchema,
    PinnedListSchema,
    RoleResponseSchema,
    RoleSchema,
    RoomSchema,
    RoomUpdateSchema,
    UserListSchema,
)

blp = api_blueprint("moderation", __name__, "/api", "Running a room: roles, bans, pins, audit")


@blp.route("/rooms/<name>", methods=["PATCH"])
@authenticated(blp, 403, 404, 422)
@blp.arguments(RoomUpdateSchema)
@blp.response(200, RoomSchema)
def update_room(data: dict[str, Any], name: str) -> dict[str, Any]:
    """Change the title or topic; owner or admin. Members hear `room_updated`."""
    room = moderation.update_room(g.user, name, data.get("title"), data.get("topic"))
    return room_view(g.user, room)


@blp.route("/rooms/<name>/members/<username>", methods=["PUT"])
@authenticated(blp, 403, 404, 409, 422)
@blp.arguments(RoleSchema)
@blp.response(200, RoleResponseSchema)
def set_role(data: dict[str, Any], name: str, username: str) -> dict[str, Any]:
    """Make a member `admin` or `member`; owner only. `owner` hands the room over
    (the caller becomes an admin)."""
    return moderation.set_role(g.user, name, username, data["role"])


@blp.route("/rooms/<name>/members/<username>", methods=["DELETE"])
@authenticated(blp, 403, 404)
@blp.response(204)
def kick(name: str, username: str) -> None:
    """Remove (kick) a member; owner or admin, never the owner (an admin only by
    the owner). Answers once the member's sockets on every instance have left."""
    moderation.remove_member(g.user, name, username)


@blp.route("/rooms/<name>/bans", methods=["GET"])
@authenticated(blp, 403, 404)
@blp.response(200, UserListSchema)
def list_bans(name: str) -> dict[str, Any]:
    """Banned users; owner or admin."""
    return {"users": moderation.banned_users(g.user, name)}


@blp.route("/rooms/<name>/bans/<username>", methods=["PUT"])
@authenticated(blp, 403, 404)
@blp.response(204)
def ban(name: str, username: str) -> None:
    """Ban (also removes a member); owner or admin. A banned user cannot join, be
    added or accept an invite."""
    moderation.ban(g.user, name, username)


@blp.route("/rooms/<name>/bans/<username>", methods=["DELETE"])
@authenticated(blp, 403, 404)
@blp.response(204)
def unban(name: str, username: str) -> None:
    """Lift a ban; owner or admin."""
    moderation.unban(g.user, name, username)


@blp.route("/rooms/<name>/pins", methods=["GET"])
@authenticated(blp, 403, 404)
@blp.response(200, PinnedListSchema)
def list_pins(name: str) -> dict[str, Any]:
    """Pinned messages, newest pin first; members."""
    return {"messages": moderation.pins(g.user, name)}


@blp.route("/rooms/<name>/pins/<int:message_id>", methods=["PUT"])
@authenticated(blp, 403, 404, 409)
@blp.response(200, MessageSchema)
def pin(name: str, message_id: int) -> Any:
    """Pin a message of the room; owner or admin. Members hear `pinned`."""
    return moderation.pin(g.user, name, message_id, True)


@blp.route("/rooms/<name>/pins/<int:message_id>", methods=["DELETE"])
@authenticated(blp, 403, 404, 409)
@blp.response(200, MessageSchema)
def unpin(name: str, message_id: int) -> Any:
    """Unpin a message; owner or admin."""
    return moderation.pin(g.user, name, message_id, False)


@blp.route("/rooms/<name>/audit", methods=["GET"])
@authenticated(blp, 403, 404, 422)
@blp.arguments(AuditQuerySchema, location="query")
@blp.response(200, AuditPageSchema)
def audit_log(args: dict[str, Any], name: str) -> dict[str, Any]:
    """What owners and admins did, newest first; owners and admins (a site admin:
    any room). `before` is an entry id."""
    entries, has_more = audit.entries(g.user, name, args.get("before"), args["limit"])
    return {"entries": entries, "has_more": has_more}
