"""Accounts: registering, logging in and out, passwords, finding and searching users.

Rules here: what a username is (USERNAME_PATTERN: no hyphen, which keeps DM
names unambiguous, see rooms.py), that usernames are unique and compared in
lower case, and how many users a search returns.
"""

from collections.abc import Sequence

from sqlalchemy import select

from app import auth
from app.chat import notify
from app.chat.transactions import add_unique
from app.errors import ApiError
from app.extensions import db
from app.models import User, utcnow

# \Z, not $: "$" also matches before a final line break ("bob\n").
USERNAME_PATTERN = r"^[a-z0-9_]{3,32}\Z"
USER_SEARCH_LIMIT = 20


def register(username: str, password: str, display_name: str | None = None) -> tuple[User, str]:
    user = User(
        username=username,
        display_name=(display_name or username).strip(),
        password_hash=auth.hash_password(password),
    )
    add_unique(
        user,
        select(User.id).where(User.username == username),
        f"The username {username!r} is taken.",
    )
    return user, auth.issue_token(user)


def login(username: str, password: str) -> tuple[User, str]:
    user = db.session.scalar(select(User).where(User.username == username.strip().lower()))
    if not auth.password_matches(user, password) or user.bot or user.deactivated_at:
        # A bot logs in only with its API token; a deactivated user not at all.
        raise ApiError("unauthorized", "Wrong username or password.")
    if auth.needs_rehash(user.password_hash):  # stored with older parameters
        user.password_hash = auth.hash_password(password)
        db.session.commit()
    return user, auth.issue_token(user)


def logout(claims: auth.Claims) -> None:
    """Ends one token's session, on every instance (its sockets close too)."""
    auth.end_session(claims)


def change_password(user: User, current_password: str, new_password: str) -> tuple[User, str]:
    """Sets a new password and ends every session opened before; returns a fresh token."""
    # The row as stored, locked: `user` may be a cached copy (app/user_cache.py), and
    # two changes at once must not both start from the same generation.
    db.session.refresh(user, with_for_update=True)
    if not auth.password_matches(user, current_password):
        raise ApiError(
            "validation_error",
            "The request has invalid fields.",
            fields={"current_password": "Wrong password."},
        )
    user.password_hash = auth.hash_password(new_password)
    auth.end_all_sessions(user)
    db.session.commit()
    return user, auth.issue_token(user)


def set_site_admin(username: str, on: bool) -> User:
    """`flask users promote|demote NAME`: a site admin reads every room's audit log."""
    user = find_user(username)
    user.site_admin = on
    db.session.commit()
    return user


def deactivate(username: str) -> User:
    """`flask users deactivate NAME`: cannot log in; every session ends on every
    instance (its sockets are closed)."""
    user = find_user(username)
    db.session.refresh(user, with_for_update=True)
    user.deactivated_at = user.deactivated_at or utcnow()
    auth.end_all_sessions(user)
    db.session.commit()
    notify.listener().sessions_ended(user, "revoked")
    return user


def user_named(username: str) -> User | None:
    """The user with that username (any case), or None."""
    # A name from the URL may hold NUL, which PostgreSQL refuses in a query; no
    # username has one.
    if "\x00" in username:
        return None
    return db.session.scalar(select(User).where(User.username == username.strip().lower()))


def find_user(username: str) -> User:
    user = user_named(username)
    if user is None:
        raise ApiError("not_found", f"No user named {username!r}.")
    return user


def search_users(prefix: str) -> Sequence[User]:
    prefix = prefix.strip().lower()
    escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    query = select(User).order_by(User.username).limit(USER_SEARCH_LIMIT)
    if prefix:
        query = query.where(User.username.like(escaped + "%", escape="\\"))
    return db.session.scalars(query).all()
