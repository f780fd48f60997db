"""Read markers and typing: what a member has read, and who is typing.

Rules here: a read marker names a message of that room and only moves
forward; typing is only announced to a room by its members, and never stored.
"""

from typing import cast

from sqlalchemy import CursorResult, or_, update

from app.chat import notify
from app.chat.messages import require_in_room
from app.chat.rooms import member_room
from app.extensions import db
from app.models import Membership, User


def mark_read(user: User, name: str, message_id: int) -> bool:
    """Move the user's read marker forward to message_id (never back)."""
    room, _ = member_room(user, name)
    require_in_room(room, message_id, field="message_id")
    # Conditional in the database: two reads at once (ids 10 and 5) leave 10,
    # whichever commits last; a check in Python first could write 5 over 10.
    result = db.session.execute(
        update(Membership)
        .where(
            Membership.room_id == room.id,
            Membership.user_id == user.id,
            or_(Membership.last_read_id.is_(None), Membership.last_read_id < message_id),
        )
        .values(last_read_id=message_id)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    if cast(CursorResult, result).rowcount != 1:
        return False
    notify.listener().read(room, user, message_id)
    return True


def set_typing(user: User, name: str, typing: bool, origin: str | None = None) -> None:
    """Announce that a member started or stopped typing (not to `origin`, who said so)."""
    room, _ = member_room(user, name)
    notify.listener().typing(room, user, typing, origin=origin)
