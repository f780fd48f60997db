"""Rooms as one user sees them: member count, membership, unread count, DM peer,
and a member's own settings (muted).

Rules here: what counts as unread (messages by others, not deleted, after the
user's read marker), and as an unread mention (such a message that mentions
the user), and that a DM shows the other person (from its name when they have
left).
"""

from collections.abc import Sequence
from typing import Any

from sqlalchemy import and_, func, select

from app.chat.rooms import dm_peer_from_name, visible_rooms
from app.extensions import db
from app.models import Membership, Mention, Message, Room, User


def _member_counts(room_ids: list[int]):
    rows = db.session.execute(
        select(Membership.room_id, func.count())
        .where(Membership.room_id.in_(room_ids))
        .group_by(Membership.room_id)
    )
    return dict(rows.all())


def _unread(user: User, room_ids: list[int]):
    """Messages by others after the user's read marker (not deleted), per room of
    room_ids the user is in: one join with the memberships, whatever their number
    (one OR term per membership overflowed SQLite's expression tree at ~1,000)."""
    return (
        select(Message.room_id, func.count())
        .join(
            Membership, and_(Membership.room_id == Message.room_id, Membership.user_id == user.id)
        )
        .where(
            Message.room_id.in_(room_ids),
            Message.id > func.coalesce(Membership.last_read_id, 0),
            Message.author_id != user.id,
            Message.deleted_at.is_(None),
        )
        .group_by(Message.room_id)
    )


def _unread_counts(user: User, room_ids: list[int]):
    """Unread messages, and unread messages that mention the user, per room."""
    if not room_ids:
        return {}, {}
    unread = db.session.execute(_unread(user, room_ids))
    mentioning = db.session.execute(
        _unread(user, room_ids).join(
            Mention, and_(Mention.message_id == Message.id, Mention.user_id == user.id)
        )
    )
    return dict(unread.all()), dict(mentioning.all())


def _dm_peers(user: User, rooms: Sequence[Room]):
    dm_ids = [r.id for r in rooms if r.kind == "dm"]
    if not dm_ids:
        return {}
    rows = db.session.execute(
        select(Membership.room_id, User)
        .join(User, User.id == Membership.user_id)
        .where(Membership.room_id.in_(dm_ids), Membership.user_id != user.id)
    )
    return {room_id: peer for room_id, peer in rows.all()}


def room_views(user: User, rooms: Sequence[Room]) -> list[dict[str, Any]]:
    """Rooms as the user sees them: counts, membership, unread, DM peer."""
    ids = [r.id for r in rooms]
    counts = _member_counts(ids)
    mine = {
        m.room_id: m
        for m in db.session.scalars(
            select(Membership).where(Membership.user_id == user.id, Membership.room_id.in_(ids))
        )
    }
    unread, mentions = _unread_counts(user, list(mine))
    peers = _dm_peers(user, rooms)
    views = []
    for room in rooms:
        view = {
            "id": room.id,
            "name": room.name,
            "title": room.title,
            "topic": room.topic or "",
            "private": room.private,
            "kind": room.kind,
            "created_at": room.created_at,
            "member_count": counts.get(room.id, 0),
            "member": room.id in mine,
        }
        if room.id in mine:
            view["unread"] = unread.get(room.id, 0)
            view["last_read_id"] = mine[room.id].last_read_id
            view["mentions"] = mentions.get(room.id, 0)
            view["muted"] = bool(mine[room.id].muted)
            view["role"] = mine[room.id].role
        if room.kind == "dm":
            view["peer"] = peers.get(room.id) or dm_peer_from_name(user, room)
        views.append(view)
    return views


def room_public_view(room: Room) -> dict[str, Any]:
    """The room as every member sees it, without anyone's own fields (for an
    event to all of its members)."""
    return {
        "id": room.id,
        "name": room.name,
        "title": room.title,
        "topic": room.topic or "",
        "private": room.private,
        "kind": room.kind,
        "created_at": room.created_at,
        "member_count": _member_counts([room.id]).get(room.id, 0),
    }


def room_view(user: User, room: Room) -> dict[str, Any]:
    return room_views(user, [room])[0]


def list_rooms(user: User) -> list[dict[str, Any]]:
    """Public rooms and the user's own, as the user sees them."""
    return room_views(user, visible_rooms(user))
