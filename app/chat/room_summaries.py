"""Rooms as one user sees them: member count, membership, unread count, DM peer,
and a member's own settings (muted).

Rules here: what counts as unread (messages by others, not deleted, after the
user's read marker), and as an unread mention (such a message that mentions
the user), and that a DM shows the other person (from its name when they have
left).
"""

from collections.abc import Sequence
from typing import Any

from sqlalchemy import and_, bindparam, func, select

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


def _shared_fields(room: Room, member_count: int) -> dict[str, Any]:
    """What every member sees of a room alike."""
    return {
        "id": room.id,
        "name": room.name,
        "title": room.title,
        "topic": room.topic or "",
        "private": room.private,
        "kind": room.kind,
        "created_at": room.created_at,
        "member_count": member_count,
    }


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
        view = {**_shared_fields(room, counts.get(room.id, 0)), "member": room.id in mine}
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
    return _shared_fields(room, _member_counts([room.id]).get(room.id, 0))


# One room as one of its members sees it, in one prebuilt statement (every
# Socket.IO `join` answers with it): the member count, the member's own row, and
# the unread and unread-mention counts as _unread_counts reads them.
_MINE = Membership.__table__.alias("mine")
_COUNTED = Membership.__table__.alias("counted")
_MESSAGES = Message.__table__.alias("msgs")
_MENTIONS = Mention.__table__.alias("men")
_UNREAD_WHERE = (
    _MESSAGES.c.room_id == _MINE.c.room_id,
    _MESSAGES.c.id > func.coalesce(_MINE.c.last_read_id, 0),
    _MESSAGES.c.author_id != _MINE.c.user_id,
    _MESSAGES.c.deleted_at.is_(None),
)
_MEMBER_VIEW = select(
    select(func.count())
    .select_from(_COUNTED)
    .where(_COUNTED.c.room_id == _MINE.c.room_id)
    .scalar_subquery(),
    _MINE.c.last_read_id,
    _MINE.c.muted,
    _MINE.c.role,
    select(func.count()).select_from(_MESSAGES).where(*_UNREAD_WHERE).scalar_subquery(),
    select(func.count())
    .select_from(
        _MESSAGES.join(
            _MENTIONS,
            and_(_MENTIONS.c.message_id == _MESSAGES.c.id, _MENTIONS.c.user_id == _MINE.c.user_id),
        )
    )
    .where(*_UNREAD_WHERE)
    .scalar_subquery(),
).where(_MINE.c.room_id == bindparam("room_id"), _MINE.c.user_id == bindparam("user_id"))


def member_view(user: User, room: Room) -> dict[str, Any] | None:
    """One room as its member sees it, read now (a plain-table statement, not the
    session's copy); None when the user is not a member as committed now."""
    db.session.flush()  # a plain-table statement does not flush the session first
    row = db.session.execute(_MEMBER_VIEW, {"room_id": room.id, "user_id": user.id}).first()
    if row is None:
        return None
    member_count, last_read_id, muted, role, unread, mentions = row
    view = {
        **_shared_fields(room, member_count),
        "member": True,
        "unread": unread,
        "last_read_id": last_read_id,
        "mentions": mentions,
        "muted": bool(muted),
        "role": role,
    }
    if room.kind == "dm":
        view["peer"] = _dm_peers(user, [room]).get(room.id) or dm_peer_from_name(user, room)
    return view


def room_view(user: User, room: Room) -> dict[str, Any]:
    """One room as the user sees it (what room_views gives for it)."""
    view = member_view(user, room)
    return view if view is not None else room_views(user, [room])[0]


def list_rooms(user: User) -> list[dict[str, Any]]:
    """Public rooms and the user's own, as the user sees them."""
    return room_views(user, visible_rooms(user))
