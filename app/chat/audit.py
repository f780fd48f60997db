"""A room's audit log: what its owners and admins did (role changes, kicks, bans,
pins, moderator deletes, invites, webhooks, topic and title changes).

Rules here: an entry is added to the session of the action it records, so it
commits with it or not at all; owners and admins of the room read it, and so
does a site admin (any room); newest first, in pages.
"""

from typing import Any

from sqlalchemy import select

from app.errors import ApiError
from app.extensions import db
from app.models import AuditEntry, Membership, Room, User

AUDIT_PAGE = 50
AUDIT_PAGE_MAX = 100
MODERATOR_ROLES = ("owner", "admin")


def record(room: Any, actor: User | None, action: str, target: str = "") -> None:
    """Adds an entry to the current transaction (the caller commits)."""
    db.session.add(
        AuditEntry(
            room_id=room.id,
            actor_id=None if actor is None else actor.id,
            action=action,
            target=target[:200],
        )
    )


def entries(
    user: User, name: str, before: int | None = None, limit: int = AUDIT_PAGE
) -> tuple[list[dict[str, Any]], bool]:
    """A page of the room's log, newest first, and whether older entries remain."""
    room = db.session.scalar(select(Room).where(Room.name == name)) if "\x00" not in name else None
    member = None if room is None else db.session.get(Membership, (room.id, user.id))
    # As stored now: `user` may be a cached copy from before a promotion.
    site_admin = bool(db.session.scalar(select(User.site_admin).where(User.id == user.id)))
    if room is None or (room.private and member is None and not site_admin):
        raise ApiError("not_found", f"No room named {name!r}.")
    if not site_admin and (member is None or member.role not in MODERATOR_ROLES):
        raise ApiError("forbidden", "Only the room's owner and admins read its audit log.")
    query = select(AuditEntry).where(AuditEntry.room_id == room.id)
    if before is not None:
        query = query.where(AuditEntry.id < before)
    rows = db.session.scalars(query.order_by(AuditEntry.id.desc()).limit(limit + 1)).all()
    page = [
        {
            "id": e.id,
            "at": e.at,
            "actor": None if e.actor is None else e.actor.username,
            "action": e.action,
            "target": e.target,
        }
        for e in rows[:limit]
    ]
    return page, len(rows) > limit
