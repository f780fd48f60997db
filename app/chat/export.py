"""A room's whole history for a member, in constant memory.

Rules here: members only (as reading its history); oldest first; read in
keyset pages of EXPORT_BATCH messages (`id > last`, on the (room_id, id)
index), each page let go of before the next is read, so the memory an export
holds does not grow with the room.
"""

from collections.abc import Iterator

from sqlalchemy import select
from sqlalchemy.orm import joinedload

from app.chat.rooms import member_room
from app.extensions import db
from app.models import Message, User

EXPORT_BATCH = 500


def export_batches(user: User, name: str) -> Iterator[list[Message]]:
    """Checks membership at once (404/403 before anything is streamed), then gives
    the room's messages, oldest first, a page at a time."""
    room, _ = member_room(user, name)
    room_id = room.id

    def pages() -> Iterator[list[Message]]:
        last = 0
        while True:
            batch = list(
                db.session.scalars(
                    select(Message)
                    .options(joinedload(Message.author), joinedload(Message.room))
                    .where(Message.room_id == room_id, Message.id > last)
                    .order_by(Message.id)
                    .limit(EXPORT_BATCH)
                )
            )
            if not batch:
                return
            last = batch[-1].id
            yield batch
            db.session.expunge_all()  # the page is written: let it go
            if len(batch) < EXPORT_BATCH:
                return

    return pages()
