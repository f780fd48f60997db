"""Read markers and typing: what a member has read, and who is typing.

Rules here: a read marker names a message of that room and only moves
forward; typing is only announced to a room by its members, and never stored.
"""
from sqlalchemy import select

from app.chat import notify
from app.chat.rooms import member_room
from app.errors import ApiError
from app.extensions import db
from app.models import Message


def mark_read(user, name, message_id):
    """Move the user's read marker forward to message_id (never back)."""
    room, member = member_room(user, name)
    found = db.session.scalar(select(Message.id).where(
        Message.id == message_id, Message.room_id == room.id))
    if found is None:
        raise ApiError("validation_error", "The request has invalid fields.",
                       fields={"message_id": f"No message {message_id} in {name!r}."})
    if member.last_read_id is not None and member.last_read_id >= message_id:
        return False
    member.last_read_id = message_id
    db.session.commit()
    notify.listener().read(room, user, message_id)
    return True


def set_typing(user, name, typing, origin=None):
    """Announce that a member started or stopped typing (not to `origin`, who said so)."""
    room, _ = member_room(user, name)
    notify.listener().typing(room, user, typing, origin=origin)
