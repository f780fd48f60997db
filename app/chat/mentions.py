"""Mentions: `@username` in a body, for a user who may read the room.

Rules here: what counts as a mention (MENTION: not inside a word or an
e-mail address, case-insensitive, the whole name); who may read a room (anyone
a public room, as search has it; a private room or a DM only its members);
the rows follow the body (replaced on an edit, dropped on a delete); the
mentioned user is told at once, except an author mentioning themselves, and
an edit tells only those it newly mentions.
"""

import re
from collections.abc import Iterable
from typing import Any

from sqlalchemy import select

from app.chat import notify
from app.extensions import db
from app.models import Membership, Mention, Message, Room, User

# Not after a word character or another @ (an e-mail address is no mention),
# and the whole name: @bobby does not mention bob.
MENTION = re.compile(r"(?<![\w@])@([A-Za-z0-9_]{3,32})(?!\w)")


def named(body: str) -> list[str]:
    """The usernames a body names, lower-case, each once, in order."""
    return list(dict.fromkeys(name.lower() for name in MENTION.findall(body)))


def _readers(room: Room, usernames: list[str]):
    """The named users who may read the room, in the order named."""
    if not usernames:
        return []
    query = select(User).where(User.username.in_(usernames))
    if room.private:
        query = query.join(Membership, Membership.user_id == User.id).where(
            Membership.room_id == room.id
        )
    found = {user.username: user for user in db.session.scalars(query)}
    return [found[name] for name in usernames if name in found]


def readers_named(room: Room, body: str) -> list[User]:
    """The users a new message's body mentions who may read the room, in order."""
    return _readers(room, named(body))


def update(message: Message, room: Room) -> list[User]:
    """Sets the message's mentions from its body; returns the users newly mentioned."""
    users = [] if message.deleted else readers_named(room, message.body)
    kept = {m.user_id: m for m in message.mentions}
    mentions = []
    for position, user in enumerate(users):
        mention = kept.get(user.id) or Mention(user=user)
        mention.position = position
        mentions.append(mention)
    message.mentions = mentions
    return [u for u in users if u.id not in kept]


def announce(message: Message, users: Iterable[User], shaped: dict[str, Any] | None = None) -> None:
    """Tells each newly mentioned user (but not an author about themselves);
    `shaped`: the message as shaped for the wire, if the caller has it."""
    for user in users:
        if user.id != message.author_id:
            notify.listener().mentioned(user, message, shaped=shaped)
