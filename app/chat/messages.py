"""Messages: history pages, sending, editing and deleting.

Rules here: a body is trimmed text of 1 to BODY_MAX characters; ids are at
most ID_MAX; a send is idempotent per (room, author, client_id); sends to one
room serialise on the room's row lock, so ids follow commit order (DESIGN.md);
the per-user send limit (app/ratelimit.py) counts new messages only; only the
author edits or deletes, and a deleted message keeps its id with an empty body
and cannot be edited.
"""
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from app import metrics
from app.chat import notify
from app.chat.rooms import member_room, membership
from app.chat.store import commit_keeping_loaded
from app.errors import ApiError
from app.extensions import db
from app.models import Message, Room, utcnow
from app.ratelimit import check_allowed

BODY_MAX = 4000
# Ids are 64-bit at most (SQLite's INTEGER; a larger one makes sqlite3 raise).
ID_MAX = 2**63 - 1
PAGE_MAX = 100
HISTORY_PAGE = 50
SYNC_PAGE = 100


def history(user, name, before=None, after=None, limit=HISTORY_PAGE):
    """A page of messages, oldest first.

    With `after`, the oldest `limit` messages after it (and before `before`, if
    given); has_more says newer ones remain. Otherwise the newest `limit`
    messages before `before` (or the newest of all); has_more says older remain.
    """
    room, _ = member_room(user, name)
    return messages_page(room, before=before, after=after, limit=limit)


def messages_page(room, before=None, after=None, limit=HISTORY_PAGE):
    query = select(Message).where(Message.room_id == room.id)
    if before is not None:
        query = query.where(Message.id < before)
    if after is not None:
        query = query.where(Message.id > after).order_by(Message.id.asc())
    else:
        query = query.order_by(Message.id.desc())
    rows = db.session.scalars(query.limit(limit + 1)).all()
    has_more = len(rows) > limit
    rows = rows[:limit]
    if after is None:
        rows.reverse()
    return rows, has_more


def sync(user, name, after, limit=SYNC_PAGE):
    room, _ = member_room(user, name)
    return messages_page(room, after=after, limit=limit)


def _lock_room(room):
    """Serialise sends to one room, so ids follow commit order (see DESIGN.md)."""
    db.session.execute(select(Room.id).where(Room.id == room.id).with_for_update())


def _existing_send(user, room, client_id):
    if client_id is None:
        return None
    return db.session.scalar(select(Message).where(
        Message.room_id == room.id, Message.author_id == user.id,
        Message.client_id == client_id))


def send_message(user, name, body, client_id=None):
    """Store a message, then announce it. Returns (message, created)."""
    room, _ = member_room(user, name)
    existing = _existing_send(user, room, client_id)
    if existing is not None:
        return existing, False
    check_allowed("send", user.id)
    _lock_room(room)
    existing = _existing_send(user, room, client_id)
    if existing is not None:
        db.session.rollback()
        return existing, False
    message = Message(room_id=room.id, author_id=user.id, body=body, client_id=client_id)
    db.session.add(message)
    try:
        commit_keeping_loaded()
    except IntegrityError:
        db.session.rollback()
        existing = _existing_send(user, room, client_id)
        if existing is None:
            raise
        return existing, False
    metrics.MESSAGES_SENT.inc()
    notify.listener().message_created(message)
    return message, True


def _own_message(user, message_id):
    message = db.session.get(Message, message_id) if message_id <= ID_MAX else None
    if message is None:
        raise ApiError("not_found", f"No message {message_id}.")
    room = message.room
    if room.private and membership(user, room) is None:
        raise ApiError("not_found", f"No message {message_id}.")
    if message.author_id != user.id:
        raise ApiError("forbidden", "Only the author may change a message.")
    return message


def _update_if_not_deleted(message, **values):
    """Changes the row only while it is not deleted, in the database itself, so an
    edit racing a delete cannot store text in the deleted row; True if it did."""
    result = db.session.execute(
        update(Message).where(Message.id == message.id, Message.deleted_at.is_(None))
        .values(**values).execution_options(synchronize_session=False))
    db.session.commit()  # expires `message`: it is read back as stored
    return result.rowcount == 1


def edit_message(user, message_id, body):
    message = _own_message(user, message_id)
    if message.deleted:
        raise ApiError("conflict", "The message was deleted; it cannot be edited.")
    if message.body != body:
        if not _update_if_not_deleted(message, body=body, edited_at=utcnow()):
            raise ApiError("conflict", "The message was deleted; it cannot be edited.")
        notify.listener().message_edited(message)
    return message


def delete_message(user, message_id):
    message = _own_message(user, message_id)
    if not message.deleted and _update_if_not_deleted(message, deleted_at=utcnow(), body=""):
        notify.listener().message_deleted(message)
    return message
