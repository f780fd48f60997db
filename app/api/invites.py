"""Invite links to private rooms."""

from typing import Any

from flask import g, request

from app.api import api_blueprint, authenticated
from app.chat import invites, room_view
from app.models import Invite
from app.schemas import InviteCreateSchema, InviteListSchema, InviteSchema, RoomSchema

blp = api_blueprint("invites", __name__, "/api", "Invites to private rooms")


def _shown(invite: Invite) -> dict[str, Any]:
    return {
        "token": invite.token,
        "url": f"{request.host_url}#/invite/{invite.token}",
        "expires_at": invite.expires_at,
        "max_uses": invite.max_uses,
        "uses": invite.uses,
    }


@blp.route("/rooms/<name>/invites", methods=["POST"])
@authenticated(blp, 403, 404, 409, 422)
@blp.arguments(InviteCreateSchema, required=False)
@blp.response(201, InviteSchema)
def create(data: dict[str, Any] | None, name: str) -> dict[str, Any]:
    """An invite to a private room; owner or admin (at most 20 open a room)."""
    data = data or {}
    invite = invites.create(
        g.user, name, data.get("expires_in", invites.EXPIRES_DEFAULT), data.get("max_uses")
    )
    return _shown(invite)


@blp.route("/rooms/<name>/invites", methods=["GET"])
@authenticated(blp, 403, 404)
@blp.response(200, InviteListSchema)
def list_invites(name: str) -> dict[str, Any]:
    """Open invites (not expired, not used up), newest first; owner or admin."""
    return {"invites": [_shown(i) for i in invites.open_invites(g.user, name)]}


@blp.route("/rooms/<name>/invites/<token>", methods=["DELETE"])
@authenticated(blp, 403, 404)
@blp.response(204)
def revoke(name: str, token: str) -> None:
    """Revoke an invite; owner or admin."""
    invites.revoke(g.user, name, token)


@blp.route("/invites/<token>", methods=["POST"])
@authenticated(blp, 403, 404)
@blp.response(200, RoomSchema)
def accept(token: str) -> dict[str, Any]:
    """Accept an invite: become a member. 404 for an unknown, revoked, expired or
    used-up invite; 403 if banned."""
    return room_view(g.user, invites.accept(g.user, token))
