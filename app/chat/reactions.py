"""Reactions: one row per (message, user, emoji).

Rules here: an emoji is 1 to EMOJI_MAX characters with no whitespace or
control character (a Unicode emoji, possibly of several code points, or a
:short_name:); a message takes at most MAX_DISTINCT different emoji; only
members of the room react (a private room's message is 404 to others, as
everything in it); a deleted message takes none and loses those it had;
adding and taking back are idempotent, and a change that changes nothing
commits and announces nothing; the per-user limit (app/ratelimit.py) counts
every attempt, REST or Socket.IO.
"""

import unicodedata

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from app.chat import notify
from app.chat.messages import visible_message
from app.chat.rooms import membership
from app.errors import ApiError
from app.extensions import db
from app.models import Message, Reaction, User
from app.ratelimit import check_allowed

EMOJI_MAX = 32
MAX_DISTINCT = 20
# Whitespace is caught by str.isspace(); these categories are the rest of
# "control": C0/C1 controls, lone surrogates, line and paragraph separators.
_CONTROL_CATEGORIES = ("Cc", "Cs", "Zl", "Zp")


def emoji_problem(emoji: str) -> str | None:
    """Why a string is not an acceptable emoji, or None."""
    if not 1 <= len(emoji) <= EMOJI_MAX:
        return f"1 to {EMOJI_MAX} characters."
    if any(ch.isspace() or unicodedata.category(ch) in _CONTROL_CATEGORIES for ch in emoji):
        return "No whitespace or control characters."
    return None


def _lock(message: Message):
    """Serialise reactions to one message, so that two new emoji cannot make 21."""
    db.session.execute(select(Message.id).where(Message.id == message.id).with_for_update())


def _change(user: User, message: Message, emoji: str, on: bool):
    """Adds (on) or takes back the user's reaction; True if anything changed."""
    _lock(message)
    db.session.refresh(message, ["reactions"])  # as committed, now that it is locked
    mine = next((r for r in message.reactions if r.user_id == user.id and r.emoji == emoji), None)
    if on == (mine is not None):
        db.session.rollback()
        return False
    if on:
        used = {r.emoji for r in message.reactions}
        if emoji not in used and len(used) >= MAX_DISTINCT:
            db.session.rollback()
            raise ApiError(
                "conflict",
                f"A message takes at most {MAX_DISTINCT} different emoji; use one already there.",
            )
        message.reactions.append(Reaction(user=user, emoji=emoji))
    else:
        assert mine is not None  # taking back: `on` is False, so it is there
        message.reactions.remove(mine)
    try:
        db.session.commit()
    except IntegrityError:  # the same reaction, added at once from another tab
        db.session.rollback()
        return False
    return True


def react(user: User, message_id: int, emoji: str, on: bool) -> Message:
    """Add (on) or take back the user's reaction to a message; returns the message."""
    message = visible_message(user, message_id)
    if membership(user, message.room) is None:
        raise ApiError("forbidden", f"Join {message.room.name!r} first.")
    check_allowed("react", user.id)
    if message.deleted:
        raise ApiError("conflict", "The message was deleted; it takes no reactions.")
    if _change(user, message, emoji, on):
        notify.listener().reactions_changed(message)
    return message
