"""The users that tokens name, read from the database at most once per
USER_CACHE_SECONDS per process.

Every request and Socket.IO event names its user by id (app/auth.py), and
reading that row cost more CPU than anything else a REST post did. A user's
row changes only when its password does, which also moves its
token_generation on, so each process keeps the rows it read for a short while
and puts a copy into the request's session without a query.

A copy is used only while it is as new as the caller needs: `user(user_id,
generation)` reads the row again when the copy's generation is older than
`generation`. Callers pass the newest generation they know of: the token's
own (a token issued after a password change elsewhere), and the one the
password change announced through Redis (app/revocations.py), which every
instance asks for with the logout check, in the same round trip. So a REST
request refuses a token the moment its password change has answered, on
every instance. A Socket.IO event asks no Redis: like a logout, a password
change reaches it through the periodic check of the open sockets, which reads
their users' generations and drops the copies they make stale (`sync`).

Users are never deleted by the service; one deleted by hand in SQL is still
known for up to USER_CACHE_SECONDS. 0 turns the cache off.
"""

import time
from collections.abc import Iterable, Mapping
from typing import Any

from flask import Flask, current_app
from sqlalchemy import inspect
from sqlalchemy.orm import scoped_session

from app.extensions import db
from app.library_hooks import detached
from app.models import User

MAX_ENTRIES = 10_000
# Not kept: the password hash, which only a password change reads (from the
# stored row, app/chat/accounts.py); a copy leaves it unloaded, read if asked for.
NOT_KEPT = frozenset({"password_hash"})


class UserCache:
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        # user id -> (column values, monotonic time read)
        self._rows: dict[int, tuple[dict[str, Any], float]] = {}
        self._mapper = inspect(User)
        self._columns = [c.key for c in self._mapper.column_attrs if c.key not in NOT_KEPT]

    def user(self, user_id: int | None, generation: int | None = None) -> User | None:
        """The user (attached to this request's session), or None if there is none.

        generation=None: the row is read from the database, whatever is cached."""
        if user_id is None:
            return None
        session = db.session
        present = session.identity_map.get(self._mapper.identity_key_from_primary_key((user_id,)))
        if present is not None:
            return present
        entry = self._rows.get(user_id) if generation is not None else None
        if entry is not None:
            values, read_at = entry
            if (
                values["token_generation"] >= generation
                and time.monotonic() - read_at < self.seconds
            ):
                return self._attach(session, values)
        return self._read(session, user_id)

    def _read(self, session: scoped_session, user_id: int):
        user = session.get(User, user_id)
        if user is not None and self.seconds > 0:
            self._rows.pop(user_id, None)  # re-inserted last: the oldest go first
            self._rows[user_id] = ({k: getattr(user, k) for k in self._columns}, time.monotonic())
            if len(self._rows) > MAX_ENTRIES:
                for stale in list(self._rows)[: len(self._rows) - MAX_ENTRIES * 9 // 10]:
                    del self._rows[stale]
        return user

    @staticmethod
    def _attach(session: scoped_session, values: dict[str, Any]):
        user = detached(User, values)
        session.add(user)
        return user

    def forget(self, user_id: int) -> None:
        self._rows.pop(user_id, None)

    def sync(self, user_ids: Iterable[int], generations: Mapping[int, int]) -> None:
        """Drops the copies of `user_ids` whose generation differs from
        `generations` ({id: generation}, just read from the database; a user not
        in it no longer exists)."""
        for user_id in user_ids:
            entry = self._rows.get(user_id)
            if entry is not None and entry[0]["token_generation"] != generations.get(user_id):
                self.forget(user_id)

    def clear(self) -> None:
        self._rows.clear()


def init_app(app: Flask) -> None:
    app.extensions["chat_user_cache"] = UserCache(app.config["USER_CACHE_SECONDS"])


def users() -> UserCache:
    return current_app.extensions["chat_user_cache"]
