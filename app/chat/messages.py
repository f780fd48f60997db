"""Messages: history pages, sending, editing and deleting.

Rules here: a body is trimmed text of 1 to BODY_MAX characters; ids are at
most ID_MAX; a send is idempotent per (room, author, client_id); sends to one
room serialise on the room's row lock, so ids follow commit order; the
per-user send limit (app/ratelimit.py) counts every send, a repeated client_id
too, before the room's lock is taken; only the
author edits or deletes, and a deleted message keeps its id with an empty body
and cannot be edited (its mentions, reactions and files go, its thread stays);
a page `around` a message is centred on it; a thread's page is for the room's
members. What a reply may name, and its parent's count: threads.py.
"""

import time
from collections.abc import Callable
from typing import Any, cast

from sqlalchemy import CursorResult, Table, bindparam, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import joinedload

from app import metrics
from app.chat import audit, files, mentions, notify, threads
from app.chat.rooms import is_moderator, member_room, membership, room_for_send
from app.errors import ApiError
from app.extensions import db
from app.library_hooks import commit_keeping_loaded, detached, set_loaded
from app.models import Mention, Message, Room, User, utcnow
from app.ratelimit import check_allowed

BODY_MAX = 4000
# Ids are 64-bit at most (SQLite's INTEGER; a larger one makes sqlite3 raise).
ID_MAX = 2**63 - 1
PAGE_MAX = 100
HISTORY_PAGE = 50
SYNC_PAGE = 100


def history(
    user: User,
    name: str,
    before: int | None = None,
    after: int | None = None,
    limit: int = HISTORY_PAGE,
) -> tuple[list[Message], bool]:
    """A page of messages, oldest first.

    With `after`, the oldest `limit` messages after it (and before `before`, if
    given); has_more says newer ones remain. Otherwise the newest `limit`
    messages before `before` (or the newest of all); has_more says older remain.
    """
    room, _ = member_room(user, name)
    return messages_page(room, before=before, after=after, limit=limit)


def history_around(
    user: User, name: str, message_id: int, limit: int = HISTORY_PAGE
) -> tuple[list[Message], bool, bool]:
    """The page centred on a message: (messages, has_more, has_newer), oldest first.

    Up to half the page before it, the rest after; near either end the other
    side fills the page. has_more says older messages remain, has_newer newer.
    """
    room, _ = member_room(user, name)
    require_in_room(room, message_id, field="around")
    in_room = _page_of(room)
    older = db.session.scalars(
        in_room.where(Message.id < message_id).order_by(Message.id.desc()).limit(limit)
    ).all()
    newer = db.session.scalars(
        in_room.where(Message.id >= message_id)  # from the message
        .order_by(Message.id.asc())
        .limit(limit + 1)
    ).all()
    take_older = min(len(older), max((limit - 1) // 2, limit - len(newer)))
    take_newer = min(len(newer), limit - take_older)
    page = list(reversed(older[:take_older])) + list(newer[:take_newer])
    files.preload(page)
    return page, len(older) > take_older, len(newer) > take_newer


def require_in_room(room: Room, message_id: int, field: str) -> None:
    """A message id a request names (in `field`) must be a message of that room."""
    found = db.session.scalar(
        select(Message.id).where(Message.id == message_id, Message.room_id == room.id)
    )
    if found is None:  # like any id that names nothing: 404 (`field` says which)
        raise ApiError("not_found", f"No message {message_id} in {room.name!r} ({field}).")


def _page_of(room: Room):
    """A page's statement: the room's messages, each with its author in the same
    row (one statement for the page, however many wrote it)."""
    return select(Message).where(Message.room_id == room.id).options(joinedload(Message.author))


def messages_page(
    room: Room, before: int | None = None, after: int | None = None, limit: int = HISTORY_PAGE
) -> tuple[list[Message], bool]:
    query = _page_of(room)
    if before is not None:
        query = query.where(Message.id < before)
    if after is not None:
        query = query.where(Message.id > after).order_by(Message.id.asc())
    else:
        query = query.order_by(Message.id.desc())
    rows = list(db.session.scalars(query.limit(limit + 1)))
    has_more = len(rows) > limit
    rows = rows[:limit]
    if after is None:
        rows.reverse()
    for message in rows:
        # Their room is `room`: without it, shaping the page read the room again
        # (the session holds it weakly, and nothing else held it by then).
        set_loaded(message, "room", room)
    files.preload(rows)
    return rows, has_more


def sync(user: User, name: str, after: int, limit: int = SYNC_PAGE) -> tuple[list[Message], bool]:
    room, _ = member_room(user, name)
    return messages_page(room, after=after, limit=limit)


# Built once, run with each send's values.
_SENT_WITH_CLIENT_ID = select(Message).where(
    Message.room_id == bindparam("room_id"),
    Message.author_id == bindparam("author_id"),
    Message.client_id == bindparam("client_id"),
)


def _existing_send(user: User, room: Room, client_id: str | None):
    if client_id is None:
        return None
    found = db.session.scalar(
        _SENT_WITH_CLIENT_ID, {"room_id": room.id, "author_id": user.id, "client_id": client_id}
    )
    if found is not None:  # shaped from what is loaded, not read again
        set_loaded(found, "room", room)
        set_loaded(found, "author", user)
    return found


# Built once: a send runs them with its values (see _store_new).
# The id comes back through an explicit RETURNING: SQLAlchemy's implicit one
# built the whole inserted_primary_key row for it.
_INSERT_MESSAGE = insert(cast(Table, Message.__table__)).returning(Message.__table__.c.id)
_INSERT_MENTIONS = insert(cast(Table, Mention.__table__))


def _store_new(
    room: Room,
    user: User,
    body: str,
    client_id: str | None,
    mentioned: list[User],
    reply_to: int | None = None,
    attachments: list[int] | None = None,
):
    """INSERTs a new message and its mention rows (of the users in `mentioned`,
    in order) as prepared Core statements instead of through the session's unit
    of work, whose Python cost per send was larger than the statements'.
    Returns the message as if loaded from its row, with its room, author and mentions, outside the session: shaping it
    reads nothing back, and building it so costs less than the constructor's
    instrumented setters. A reply (`reply_to`) first counts itself on its
    parent, which also checks that the parent is a message of the room
    (threads.count_reply); a message that replies to nothing costs nothing more."""
    now = utcnow()
    parent = None if reply_to is None else threads.count_reply(room, user, reply_to, now)
    values = {
        "room_id": room.id,
        "author_id": user.id,
        "body": body,
        "client_id": client_id,
        "created_at": now,
        "edited_at": None,
        "deleted_at": None,
        "reply_to_id": reply_to,
        "reply_count": 0,
        "last_reply_at": None,
        "attachment_count": len(set(attachments)) if attachments else 0,
        "deleted_by": None,
        "pinned_at": None,
    }
    message_id: int = db.session.execute(_INSERT_MESSAGE, values).scalar_one()
    values["id"] = message_id
    attached = files.attach(user, message_id, attachments) if attachments else None
    rows = [
        {"message_id": message_id, "user_id": u.id, "position": position}
        for position, u in enumerate(mentioned)
    ]
    if rows:
        db.session.execute(_INSERT_MENTIONS, rows)
    message = detached(Message, values)
    if attached is not None:  # without any, attachment_count 0 says so: nothing to load
        set_loaded(message, "attachments", attached)
    for key, value in (
        ("room", room),
        ("author", user),
        ("reactions", []),
        ("mentions", [_mention(row, u) for row, u in zip(rows, mentioned)]),
        ("reply_parent", parent),
    ):
        set_loaded(message, key, value)
    return message


def _mention(row: dict[str, Any], user: User):
    mention = detached(Mention, row)
    set_loaded(mention, "user", user)
    return mention


def send_message(
    user: User,
    name: str,
    body: str,
    client_id: str | None = None,
    shape: Callable[[Message], dict[str, Any]] | None = None,
    reply_to: int | None = None,
    attachments: list[int] | None = None,
) -> tuple[Message, bool, dict[str, Any] | None]:
    """Store a message, then announce it. Returns (message, created, shaped).

    `shaped` is shape(message) (None without `shape`): the message as the
    caller's reply shows it, made once after the commit and handed as it is to
    the announcements (the room's, each mention's), which would shape it
    otherwise.

    `reply_to`: the id of the message of the same room this one replies to
    (threads.py); its thread's new size is announced after the message.
    `attachments` (upload ids) are attached in the same transaction, by one more
    statement only when there are any (app/chat/files.py).

    Counted against the send limit first (a repeat too). Then one transaction:
    BEGIN, the room, the membership and an earlier send with the same client_id
    read in one statement that takes the room's row lock, the INSERT, the
    COMMIT."""
    started = time.perf_counter()
    # Every try counts, a repeated client_id too, and before the room's lock: a
    # client repeating one send cannot take the lock more often than it may send.
    check_allowed("send", user.id)
    room, earlier = room_for_send(user, name, client_id)
    if earlier is not None:
        existing = _existing_send(user, room, client_id)
        commit_keeping_loaded(db.session())  # ends the transaction (and the lock), keeps `existing`
        shaped = None if existing is None or shape is None else shape(existing)
        if existing is not None and not existing.deleted:
            _announce(existing, shaped, repeat=True)
        return existing, False, shaped
    mentioned = mentions.readers_named(room, body)
    try:
        message = _store_new(room, user, body, client_id, mentioned, reply_to, attachments)
        commit_keeping_loaded(db.session())
    except ApiError:
        db.session.rollback()  # an attachment refused: nothing stored
        raise
    except IntegrityError:
        # The same client_id, sent at once through another instance, committed
        # while this send waited for the lock (room_for_send did not see it).
        db.session.rollback()
        existing = _existing_send(user, room, client_id)
        if existing is None:
            raise
        return existing, False, None if shape is None else shape(existing)
    metrics.MESSAGES_SENT.inc()
    shaped = None if shape is None else shape(message)
    _announce(message, shaped, mentioned=mentioned)
    if reply_to is not None:
        threads.announce(message.reply_parent)
    metrics.SEND_SECONDS.observe(time.perf_counter() - started)
    return message, True, shaped


def _announce(
    message: Message,
    shaped: dict[str, Any] | None,
    mentioned: list[User] | None = None,
    repeat: bool = False,
) -> None:
    """The message to its room, then to whom it names, if it goes out now: a
    repeated send's message goes out only if its first try's never did (see
    notify.Listener.message_created)."""
    if notify.listener().message_created(message, repeat=repeat, shaped=shaped):
        if mentioned is None:
            mentioned = mentions.readers_named(message.room, message.body)
        mentions.announce(message, mentioned, shaped)


def visible_message(user: User, message_id: int) -> Message:
    """The message if the user may see its room; 404 for a missing one or one in a
    private room the user is not in."""
    message = db.session.get(Message, message_id) if message_id <= ID_MAX else None
    if message is None:
        raise ApiError("not_found", f"No message {message_id}.")
    room = message.room
    if room.private and membership(user, room) is None:
        raise ApiError("not_found", f"No message {message_id}.")
    return message


def thread(
    user: User, message_id: int, after: int | None = None, limit: int = HISTORY_PAGE
) -> tuple[list[Message], bool]:
    """The replies to a message, oldest first: the first `limit` after the reply
    id `after` (from the start without); has_more says later ones remain.
    Members of the message's room only: 404 for a missing message or one in a
    private room the user is not in, 403 in a public room they have not joined
    (as history)."""
    parent = visible_message(user, message_id)
    if membership(user, parent.room) is None:
        raise ApiError("forbidden", f"Join {parent.room.name!r} first.")
    query = select(Message).where(Message.reply_to_id == parent.id)
    if after is not None:
        query = query.where(Message.id > after)
    rows = list(db.session.scalars(query.order_by(Message.id.asc()).limit(limit + 1)))
    return rows[:limit], len(rows) > limit


def _own_message(user: User, message_id: int):
    message = visible_message(user, message_id)
    if message.author_id != user.id:
        raise ApiError("forbidden", "Only the author may change a message.")
    return message


def _claim_if_not_deleted(message: Message, **values: Any):
    """Changes the row only while it is not deleted, in the database itself, so an
    edit racing a delete cannot store text in the deleted row; True if it did.
    The row stays locked until the caller commits (the ORM changes that follow
    are made under that lock); False leaves the session rolled back."""
    result = db.session.execute(
        update(Message)
        .where(Message.id == message.id, Message.deleted_at.is_(None))
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if cast(CursorResult, result).rowcount != 1:
        db.session.rollback()  # `message` is read back as stored
        return False
    for name, value in values.items():
        setattr(message, name, value)
    return True


def edit_message(user: User, message_id: int, body: str) -> Message:
    message = _own_message(user, message_id)
    if message.deleted:
        raise ApiError("conflict", "The message was deleted; it cannot be edited.")
    if message.body != body:
        if not _claim_if_not_deleted(message, body=body, edited_at=utcnow()):
            raise ApiError("conflict", "The message was deleted; it cannot be edited.")
        mentioned = mentions.update(message, message.room)
        db.session.commit()
        notify.listener().message_edited(message)
        mentions.announce(message, mentioned)
    return message


def delete_message(user: User, message_id: int) -> Message:
    """The author deletes their message; an owner or admin of its room (not a DM)
    deletes anyone's, which then says `deleted_by: moderator` and is written to
    the room's audit log in the same transaction. Its files go with it; its
    thread stays, and a deleted reply no longer counts in its parent's."""
    message = visible_message(user, message_id)
    by = "author"
    if message.author_id != user.id:
        if not is_moderator(user, message.room):
            raise ApiError("forbidden", "Only the author or a moderator may delete a message.")
        by = "moderator"
    parent = None
    if not message.deleted and _claim_if_not_deleted(
        message,
        deleted_at=utcnow(),
        body="",
        attachment_count=0,
        deleted_by=by,
        pinned_at=None,
    ):
        files.delete_files_of(message.id)
        message.reactions.clear()
        mentions.update(message, message.room)
        parent = threads.uncount_reply(message)
        if by == "moderator":
            audit.record(message.room, user, "message_deleted", str(message.id))
        db.session.commit()
        notify.listener().message_deleted(message)
        threads.announce(parent)
    return message
