"""Search: the messages a user may read that match a query, newest first.

Rules here: a query is 1 to Q_MAX characters; a page is 1 to SEARCH_PAGE_MAX hits
(SEARCH_PAGE by default); a user may read public rooms (joined or not) and
the private rooms and DMs they are in, and searching one room needs what
seeing it needs (404 otherwise); deleted messages are never found; a message is found by its body or by the
name of a file attached to it; the
per-user limit (app/ratelimit.py) counts every search. The matching itself
is the database's full-text index (app/search_index.py).
"""

from collections.abc import Sequence

from sqlalchemy import ColumnElement, Select, or_, select, union_all
from sqlalchemy.orm import joinedload

from app import search_index
from app.chat import files
from app.chat.rooms import visible_room
from app.extensions import db
from app.models import Membership, Message, Room, User
from app.ratelimit import check_allowed

Q_MAX = 200
SEARCH_PAGE = 20
SEARCH_PAGE_MAX = 50


def readable_room_ids(user: User) -> Select:
    mine = select(Membership.room_id).where(Membership.user_id == user.id)
    return select(Room.id).where(or_(Room.kind == "public", Room.id.in_(mine)))


def search(
    user: User,
    q: str,
    room_name: str | None = None,
    before: int | None = None,
    limit: int = SEARCH_PAGE,
) -> tuple[Sequence[Message], bool]:
    """(messages, has_more): up to `limit` hits with ids below `before`, newest first,
    in every room the user may read or in the one named."""
    room = visible_room(user, room_name) if room_name is not None else None
    check_allowed("search", user.id)
    dialect = db.session.get_bind().dialect.name
    conditions = search_index.matches(q, dialect)
    if not conditions:
        return [], False
    scope: list[ColumnElement[bool]] = [Message.deleted_at.is_(None)]
    if room is not None:
        scope.append(Message.room_id == room.id)
    else:
        scope.append(Message.room_id.in_(readable_room_ids(user)))
    if before is not None:
        scope.append(Message.id < before)
    # Each way of matching gives its own newest limit + 1 (search_index.matches);
    # the page is the newest limit + 1 of them all.
    sides = [
        select(Message.id).where(condition, *scope).order_by(Message.id.desc()).limit(limit + 1)
        for condition in conditions
    ]
    hits = union_all(*(select(side.subquery().c.id) for side in sides)).subquery()
    query = select(Message).where(Message.id.in_(select(hits.c.id)))
    # Hits come from many rooms and authors: load those with the page, not one by one.
    query = query.options(joinedload(Message.room), joinedload(Message.author))
    rows = db.session.scalars(query.order_by(Message.id.desc()).limit(limit + 1)).all()
    files.preload(rows[:limit])
    return rows[:limit], len(rows) > limit
