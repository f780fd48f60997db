"""Rooms run by their own people: roles, the title and topic, kicks and bans, pins.

Rules here: a room has one owner (its creator, then whoever it is handed to or
succeeds on leaving, see rooms.leave_room); the owner makes admins and hands
the room over; owners and admins edit the title and topic, remove and ban
members (never the owner; an admin never another admin), pin and unpin; a DM
has no roles and no moderation; every such action is written to the room's
audit log in its own transaction (app/chat/audit.py); at most PINS_MAX pinned
messages a room.
"""

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select

from app.chat import audit, notify
from app.chat.accounts import find_user
from app.chat.rooms import lock_room, member_room
from app.errors import ApiError
from app.extensions import db
from app.models import Ban, Membership, Message, Room, User, utcnow

TOPIC_MAX = 250
TITLE_MAX = 120
PINS_MAX = 50
ROLES = ("owner", "admin", "member")


def _moderated(user: User, name: str, owner_only: bool = False) -> tuple[Room, Membership]:
    """The room and the caller's membership, the room's row locked, for an owner or
    admin (owner_only: the owner); 404 as visible_room, 403 otherwise."""
    room, member = member_room(user, name)
    if room.kind == "dm":
        raise ApiError("forbidden", "A direct message has no moderators.")
    lock_room(room)
    locked = db.session.get(Membership, (room.id, user.id), populate_existing=True)
    wanted = ("owner",) if owner_only else audit.MODERATOR_ROLES
    if locked is None or locked.role not in wanted:
        db.session.rollback()
        raise ApiError(
            "forbidden",
            "Only the room's owner may do this."
            if owner_only
            else "Only the room's owner and admins may do this.",
        )
    return room, locked


def update_room(user: User, name: str, title: str | None, topic: str | None) -> Room:
    room, _ = _moderated(user, name)
    changed = []
    if title is not None and title.strip() != room.title:
        room.title = title.strip()
        changed.append("title")
    if topic is not None and topic.strip() != room.topic:
        room.topic = topic.strip()
        changed.append("topic")
    if not changed:
        db.session.rollback()
        return room
    audit.record(room, user, "room_updated", ",".join(changed))
    db.session.commit()
    notify.listener().room_updated(room)
    return room


def set_role(user: User, name: str, username: str, role: str) -> dict[str, Any]:
    """The owner makes a member an admin or a member again, or hands the room over
    (role `owner`: the caller becomes an admin)."""
    if role not in ROLES:
        raise ApiError("validation_error", "The request has invalid fields.", fields={"role": ""})
    room, mine = _moderated(user, name, owner_only=True)
    target = find_user(username)
    member = db.session.get(Membership, (room.id, target.id), populate_existing=True)
    if member is None:
        db.session.rollback()
        raise ApiError("not_found", f"{target.username!r} is not a member of {name!r}.")
    if target.id == user.id:
        if role != "owner":
            db.session.rollback()
            raise ApiError("conflict", "Hand the room over first; a room always has an owner.")
        return {"user": target, "role": "owner"}
    if member.role == role:
        db.session.rollback()
        return {"user": target, "role": role}
    member.role = role
    if role == "owner":
        mine.role = "admin"
    audit.record(room, user, f"role_{role}", target.username)
    db.session.commit()
    notify.listener().room_updated(room, target)
    if role == "owner":
        notify.listener().room_updated(room, user)
    return {"user": target, "role": role}


def _removable(user: User, mine: Membership, target: User, member: Membership | None) -> None:
    if target.id == user.id:
        raise ApiError("forbidden", "Leave the room instead.")
    if member is not None and member.role == "owner":
        raise ApiError("forbidden", "The owner cannot be removed.")
    if member is not None and member.role == "admin" and mine.role != "owner":
        raise ApiError("forbidden", "Only the owner removes an admin.")


def remove_member(user: User, name: str, username: str) -> None:
    """Kick: the member leaves the room, on every instance before this returns."""
    room, mine = _moderated(user, name)
    target = find_user(username)
    member = db.session.get(Membership, (room.id, target.id), populate_existing=True)
    if member is None:
        db.session.rollback()
        raise ApiError("not_found", f"{target.username!r} is not a member of {name!r}.")
    try:
        _removable(user, mine, target, member)
    except ApiError:
        db.session.rollback()
        raise
    db.session.delete(member)
    audit.record(room, user, "kicked", target.username)
    db.session.commit()
    notify.listener().member_removed(room, target, "kicked")


def ban(user: User, name: str, username: str) -> None:
    """Ban (idempotent): removes the user if a member; they cannot join, be added
    or accept an invite until unbanned."""
    room, mine = _moderated(user, name)
    target = find_user(username)
    member = db.session.get(Membership, (room.id, target.id), populate_existing=True)
    try:
        _removable(user, mine, target, member)
    except ApiError:
        db.session.rollback()
        raise
    if db.session.get(Ban, (room.id, target.id)) is None:
        db.session.add(Ban(room_id=room.id, user_id=target.id))
        audit.record(room, user, "banned", target.username)
    if member is not None:
        db.session.delete(member)
    db.session.commit()
    if member is not None:
        notify.listener().member_removed(room, target, "banned")


def unban(user: User, name: str, username: str) -> None:
    room, _ = _moderated(user, name)
    target = find_user(username)
    found = db.session.get(Ban, (room.id, target.id))
    if found is not None:
        db.session.delete(found)
        audit.record(room, user, "unbanned", target.username)
    db.session.commit()


def banned_users(user: User, name: str) -> Sequence[User]:
    room, _ = _moderated(user, name)
    found = db.session.scalars(
        select(User).join(Ban, Ban.user_id == User.id).where(Ban.room_id == room.id)
    ).all()
    db.session.commit()  # the lock
    return sorted(found, key=lambda u: u.username)


def _room_message(room: Room, message_id: int) -> Message:
    message = db.session.get(Message, message_id) if message_id <= 2**63 - 1 else None
    if message is None or message.room_id != room.id:
        db.session.rollback()
        raise ApiError("not_found", f"No message {message_id} in {room.name!r}.")
    return message


def pin(user: User, name: str, message_id: int, on: bool) -> Message:
    """Pin or unpin (idempotent); a deleted message cannot be pinned."""
    room, _ = _moderated(user, name)
    message = _room_message(room, message_id)
    if message.pinned == on:
        db.session.commit()
        return message
    if on:
        if message.deleted:
            db.session.rollback()
            raise ApiError("conflict", "A deleted message cannot be pinned.")
        count = db.session.scalar(
            select(db.func.count())
            .select_from(Message)
            .where(Message.room_id == room.id, Message.pinned_at.is_not(None))
        )
        if (count or 0) >= PINS_MAX:
            db.session.rollback()
            raise ApiError("conflict", f"At most {PINS_MAX} pinned messages a room.")
    message.pinned_at = utcnow() if on else None
    audit.record(room, user, "pinned" if on else "unpinned", str(message.id))
    db.session.commit()
    notify.listener().pinned(message)
    return message


def pins(user: User, name: str) -> Sequence[Message]:
    """The room's pinned messages, newest pin first; members only."""
    room, _ = member_room(user, name)
    return db.session.scalars(
        select(Message)
        .where(Message.room_id == room.id, Message.pinned_at.is_not(None))
        .order_by(Message.pinned_at.desc(), Message.id.desc())
    ).all()
