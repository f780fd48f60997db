"""Invites to private rooms.

Rules here: owners and admins of a private room make, list and revoke them;
an invite expires (EXPIRES_MAX at most, EXPIRES_DEFAULT unless asked) and may
have a use count; at most OPEN_MAX open (unexpired, not used up) a room;
accepting one joins the room: 404 for an unknown, revoked, expired or used-up
invite, 403 for a banned user; a use is counted by a conditional UPDATE, so
two people cannot both take an invite's last use.
"""

import secrets
from collections.abc import Sequence
from datetime import timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, or_, select, update

from app.chat import audit
from app.chat.moderation import _moderated
from app.chat.rooms import _add_member, membership, refuse_if_banned
from app.errors import ApiError
from app.extensions import db
from app.models import Invite, User, utcnow

OPEN_MAX = 20
EXPIRES_DEFAULT = 7 * 24 * 3600
EXPIRES_MAX = 30 * 24 * 3600
USES_MAX = 1000


def _open(room_id: int):
    now = utcnow()
    return select(Invite).where(
        Invite.room_id == room_id,
        Invite.expires_at > now,
        or_(Invite.max_uses.is_(None), Invite.uses < Invite.max_uses),
    )


def create(
    user: User, name: str, expires_in: int = EXPIRES_DEFAULT, max_uses: int | None = None
) -> Invite:
    room, _ = _moderated(user, name)
    if room.kind != "private":
        db.session.rollback()
        raise ApiError("forbidden", "Invites are for private rooms; anyone may join this one.")
    count = db.session.scalar(select(db.func.count()).select_from(_open(room.id).subquery()))
    if (count or 0) >= OPEN_MAX:
        db.session.rollback()
        raise ApiError("conflict", f"At most {OPEN_MAX} open invites a room; revoke one first.")
    invite = Invite(
        room_id=room.id,
        token=secrets.token_urlsafe(24),
        created_by_id=user.id,
        expires_at=utcnow() + timedelta(seconds=expires_in),
        max_uses=max_uses,
        uses=0,
    )
    db.session.add(invite)
    audit.record(room, user, "invite_created", invite.token[:8])
    db.session.commit()
    return invite


def open_invites(user: User, name: str) -> Sequence[Invite]:
    room, _ = _moderated(user, name)
    found = db.session.scalars(_open(room.id).order_by(Invite.id.desc())).all()
    db.session.commit()
    return found


def revoke(user: User, name: str, token: str) -> None:
    room, _ = _moderated(user, name)
    invite = db.session.scalar(
        select(Invite).where(Invite.room_id == room.id, Invite.token == token)
    )
    if invite is None:
        db.session.rollback()
        raise ApiError("not_found", "No such invite.")
    db.session.delete(invite)
    audit.record(room, user, "invite_revoked", token[:8])
    db.session.commit()


def accept(user: User, token: str) -> Any:
    """Joins the invite's room (a member already: nothing is used)."""
    gone = ApiError("not_found", "This invite is unknown, revoked, expired or used up.")
    if "\x00" in token or len(token) > 64:
        raise gone
    invite = db.session.scalar(select(Invite).where(Invite.token == token))
    if invite is None:
        raise gone
    room = invite.room
    if membership(user, room) is not None:
        return room
    refuse_if_banned(user, room)
    now = utcnow()
    taken = db.session.execute(
        update(Invite)
        .where(
            Invite.id == invite.id,
            Invite.expires_at > now,
            or_(Invite.max_uses.is_(None), Invite.uses < Invite.max_uses),
        )
        .values(uses=Invite.uses + 1)
        .execution_options(synchronize_session=False)
    )
    if cast(CursorResult, taken).rowcount != 1:
        db.session.rollback()
        raise gone
    audit.record(room, user, "invite_accepted", token[:8])
    db.session.commit()
    _add_member(room, user)
    return room
