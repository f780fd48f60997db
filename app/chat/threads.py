"""Replies and threads.

Rules here: a message may reply to any message of its own room (deleted or
not; a reply to a reply starts that reply's own thread); naming a message of
another room, or none, is a `validation_error` on `reply_to`, worded the same
either way, so that a reply never tells whether a message exists elsewhere. A
reply is an ordinary message of its room that also belongs to its parent's
thread. The parent keeps its thread's size (`reply_count`: the replies not
deleted) and the time of its newest reply (`last_reply_at`) on its own row:
a send adds to them in its own transaction with one UPDATE that also checks the
room, a deleted reply takes itself out again, a deleted parent keeps both.
Each change is announced (notify.thread_changed). A thread's page is its
replies, oldest first, to the members of its room (messages.thread).
"""

from datetime import datetime
from typing import Any

from sqlalchemy import Table, bindparam, func, select, update
from sqlalchemy.orm import aliased

from app.chat import notify
from app.errors import ApiError
from app.extensions import db
from app.library_hooks import detached, set_loaded
from app.models import Message, Room, User

EXCERPT_CHARS = 120

_MESSAGES: Table = Message.__table__  # type: ignore[assignment]

# Built once: a reply's send runs it with its values. It finds the parent in
# the room (no row: not a message of this room), counts the new reply on it,
# and returns what the reply's `reply_to` shows, in one round trip; the
# parent's row stays locked until the send commits.
_COUNT_REPLY = (
    update(_MESSAGES)
    .where(_MESSAGES.c.id == bindparam("parent_id"), _MESSAGES.c.room_id == bindparam("room"))
    .values(reply_count=_MESSAGES.c.reply_count + 1, last_reply_at=bindparam("at"))
    .returning(*_MESSAGES.c)
)
_COLUMNS = tuple(column.key for column in _MESSAGES.c)


def excerpt(message: Message) -> str:
    """What a reply quotes of its parent: the first EXCERPT_CHARS characters of
    its body; "" once it is deleted."""
    return "" if message.deleted_at is not None else message.body[:EXCERPT_CHARS]


def not_in_room(room: Room, message_id: int) -> ApiError:
    return ApiError(
        "validation_error",
        "The request has invalid fields.",
        fields={"reply_to": f"No message {message_id} in {room.name!r}."},
    )


def count_reply(room: Room, user: User, parent_id: int, at: datetime) -> Message:
    """Inside a send's transaction (the room's row locked): the parent, one more
    reply counted on it, built from its row with its author. Raises (after a
    rollback) when `parent_id` is no message of the room."""
    row = db.session.execute(
        _COUNT_REPLY, {"parent_id": parent_id, "room": room.id, "at": at}
    ).first()
    if row is None:
        db.session.rollback()  # releases the room's lock
        raise not_in_room(room, parent_id)
    parent = detached(Message, dict(zip(_COLUMNS, row)))
    author = user if parent.author_id == user.id else db.session.get(User, parent.author_id)
    set_loaded(parent, "author", author)
    set_loaded(parent, "room", room)
    return parent


_REPLIES = aliased(Message)


def uncount_reply(reply: Message) -> Message | None:
    """Inside a delete's transaction: the deleted reply's parent, its count and
    newest reply time recounted from its replies not deleted (after locking
    the parent's row, so that a reply sent meanwhile is either counted here or
    counts itself after). None for a message that replies to nothing."""
    if reply.reply_to_id is None:
        return None
    parent_id = reply.reply_to_id
    db.session.execute(select(Message.id).where(Message.id == parent_id).with_for_update())
    alive = select(_REPLIES.id).where(
        _REPLIES.reply_to_id == parent_id, _REPLIES.deleted_at.is_(None)
    )
    db.session.execute(
        update(Message)
        .where(Message.id == parent_id)
        .values(
            reply_count=select(func.count()).select_from(alive.subquery()).scalar_subquery(),
            last_reply_at=select(func.max(_REPLIES.created_at))
            .where(_REPLIES.reply_to_id == parent_id, _REPLIES.deleted_at.is_(None))
            .scalar_subquery(),
        )
        .execution_options(synchronize_session=False)
    )
    parent = db.session.get(Message, parent_id)
    if parent is not None:
        db.session.refresh(parent, ["reply_count", "last_reply_at"])
    return parent


def announce(parent: Message | None) -> None:
    """The parent's thread changed: told to its room."""
    if parent is not None:
        notify.listener().thread_changed(parent)


def reply_fields(message: Message) -> dict[str, Any] | None:
    """The `reply_to` a message shows: {id, author, excerpt}, or None."""
    parent = message.reply_parent if message.reply_to_id is not None else None
    if parent is None:
        return None
    return {
        "id": parent.id,
        "author": {"username": parent.author.username, "display_name": parent.author.display_name},
        "excerpt": excerpt(parent),
    }
