"""Bots and incoming webhooks.

Rules here: a bot is a user with `bot` set, made by a person (not by a bot;
at most BOTS_MAX each); it has no password and logs in only with its API
token, which outlives its owner's sessions; rotating the token ends the old
one on every instance (the bot's token generation, as a password change does,
app/auth.py) and closes its sockets; deleting a bot deactivates it (its
messages stay), removes its memberships and webhooks and ends its sessions.

A webhook posts into one room as a bot the caller owns (added to the room if
it is not in it): owners and admins make, list and delete them, at most
WEBHOOKS_MAX a room; only the SHA-256 of its secret is stored; each webhook
posts at most WEBHOOK_RATE_LIMIT (app/config.py).
"""

import hashlib
import secrets
from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, select

from app import auth
from app.chat import audit, notify
from app.chat.accounts import user_named
from app.chat.messages import send_message
from app.chat.moderation import _moderated
from app.chat.rooms import _add_member, leave_room, membership, refuse_if_banned, room_names_of
from app.chat.transactions import add_unique
from app.errors import ApiError
from app.extensions import db
from app.models import Message, User, Webhook, utcnow
from app.ratelimit import check_allowed

BOTS_MAX = 20
WEBHOOKS_MAX = 10
UNUSABLE_PASSWORD = "!bot"  # no hash matches it: a bot has no password


def create_bot(owner: User, username: str, display_name: str | None = None) -> tuple[User, str]:
    if owner.bot:
        raise ApiError("forbidden", "A bot cannot make bots.")
    count = db.session.scalar(
        select(db.func.count())
        .select_from(User)
        .where(User.owner_id == owner.id, User.deactivated_at.is_(None))
    )
    if (count or 0) >= BOTS_MAX:
        raise ApiError("conflict", f"At most {BOTS_MAX} bots a user.")
    bot = User(
        username=username,
        display_name=(display_name or username).strip(),
        password_hash=UNUSABLE_PASSWORD,
        bot=True,
        owner_id=owner.id,
    )
    add_unique(
        bot,
        select(User.id).where(User.username == username),
        f"The username {username!r} is taken.",
    )
    return bot, auth.issue_token(bot)


def bots_of(owner: User) -> Sequence[User]:
    return db.session.scalars(
        select(User)
        .where(User.owner_id == owner.id, User.deactivated_at.is_(None))
        .order_by(User.username)
    ).all()


def _my_bot(owner: User, username: str) -> User:
    bot = user_named(username)
    if bot is None or bot.owner_id != owner.id or not bot.bot or bot.deactivated_at:
        raise ApiError("not_found", f"You have no bot named {username!r}.")
    return bot


def rotate_token(owner: User, username: str) -> str:
    """A new API token; every older one stops working everywhere, its sockets close."""
    bot = _my_bot(owner, username)
    db.session.refresh(bot, with_for_update=True)
    auth.end_all_sessions(bot)
    db.session.commit()
    notify.listener().sessions_ended(bot, "revoked")
    return auth.issue_token(bot)


def delete_bot(owner: User, username: str) -> None:
    """The bot leaves each of its rooms as a member would (a room it owns passes
    to the next in line), its webhooks go, its tokens end and its sockets close."""
    bot = _my_bot(owner, username)
    for name in room_names_of(bot.id):
        leave_room(bot, name)
    db.session.refresh(bot, with_for_update=True)
    db.session.execute(delete(Webhook).where(Webhook.bot_id == bot.id))
    bot.deactivated_at = utcnow()
    auth.end_all_sessions(bot)
    db.session.commit()
    notify.listener().sessions_ended(bot, "revoked")


# --- webhooks ---------------------------------------------------------------


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def create_webhook(user: User, name: str, bot_name: str) -> tuple[Webhook, str]:
    """(webhook, its secret): the secret is shown this once."""
    room, _ = _moderated(user, name)
    try:
        bot = _my_bot(user, bot_name)
    except ApiError:
        db.session.rollback()
        raise
    count = db.session.scalar(
        select(db.func.count()).select_from(Webhook).where(Webhook.room_id == room.id)
    )
    if (count or 0) >= WEBHOOKS_MAX:
        db.session.rollback()
        raise ApiError("conflict", f"At most {WEBHOOKS_MAX} webhooks a room.")
    try:
        refuse_if_banned(bot, room)
    except ApiError:
        db.session.rollback()
        raise
    secret = secrets.token_urlsafe(32)
    hook = Webhook(room_id=room.id, bot_id=bot.id, secret_hash=_hash(secret), created_by_id=user.id)
    db.session.add(hook)
    audit.record(room, user, "webhook_created", bot.username)
    db.session.commit()
    if membership(bot, room) is None:
        _add_member(room, bot)
    return hook, secret


def webhooks(user: User, name: str) -> Sequence[Webhook]:
    room, _ = _moderated(user, name)
    found = db.session.scalars(
        select(Webhook).where(Webhook.room_id == room.id).order_by(Webhook.id)
    ).all()
    db.session.commit()
    return found


def delete_webhook(user: User, name: str, webhook_id: int) -> None:
    room, _ = _moderated(user, name)
    hook = db.session.get(Webhook, webhook_id) if webhook_id <= 2**63 - 1 else None
    if hook is None or hook.room_id != room.id:
        db.session.rollback()
        raise ApiError("not_found", f"No webhook {webhook_id} in {name!r}.")
    db.session.delete(hook)
    audit.record(room, user, "webhook_deleted", hook.bot.username)
    db.session.commit()


def find_webhook(secret: str) -> Webhook:
    """The webhook of a secret URL, or 404 (before its body is even read)."""
    if "\x00" in secret or len(secret) > 200:
        raise ApiError("not_found", "No such webhook.")
    hook = db.session.scalar(select(Webhook).where(Webhook.secret_hash == _hash(secret)))
    if hook is None:
        raise ApiError("not_found", "No such webhook.")
    return hook


def post_through(hook: Webhook, text: str, shape: Any = None) -> Message:
    """POST /hooks/<secret>: `text` into the webhook's room as its bot."""
    bot, room_name = hook.bot, hook.room.name
    check_allowed("webhook", hook.id)
    db.session.commit()  # no transaction held over the send
    message, _, _ = send_message(bot, room_name, text, shape=shape)
    return message


def webhook_view(hook: Webhook) -> dict[str, Any]:
    return {"id": hook.id, "bot": hook.bot, "created_at": hook.created_at}
