"""Tokens ended before their expiry (logout), known to every instance.

A logged-out token's id is kept until the token would have expired anyway: in
Redis when REDIS_URL is set (so every instance sees it), in this process's
memory otherwise (embedded mode has one process). Each process also remembers
the ids it has seen revoked, so it asks Redis at most once about each of them.

If Redis cannot be reached, the check fails open (the token is taken as not
revoked) and says so in the log: a Redis outage must not log everyone out.
The password change does not depend on this: it ends tokens through the
database (users.token_generation, app/auth.py). It also announces the new
generation here, read with the logout check in the same round trip, so that an
instance holding an older copy of the user (app/user_cache.py) reads it again.

Both are also appended to a Redis stream (the feed, kept FEED_KEEP_SECONDS), so
that an instance's periodic check of its open sockets (app/realtime/sessions.py)
reads only what changed since its last pass instead of asking about every socket.
"""

import logging
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from flask import current_app

from app import library_hooks
from app.errors import ApiError

log = logging.getLogger(__name__)

# One hash tag: on a Redis Cluster every key is in one slot, so MGET works.
PREFIX = "{revoked-token}:"
FEED = PREFIX + "feed"
# How long the feed keeps an entry. A reader whose last entry has been trimmed
# away (it has not read for that long, or Redis lost the stream) is told so and
# checks every socket instead.
FEED_KEEP_SECONDS = 600
FEED_PAGE = 1000  # entries per read
FEED_START = "0-0"  # the position of a reader of an empty feed


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _stream_id(entry_id: str) -> tuple[int, int]:
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)


@dataclass
class FeedChanges:
    """What the feed says happened after a reader's position."""

    position: str  # the newest entry read (the next read starts after it)
    logged_out: set[str] = field(default_factory=set)  # token ids
    generations: dict[int, int] = field(default_factory=dict)  # user id -> newest generation


class Revocations:
    def __init__(self) -> None:
        self._known: dict[str, float] = {}  # token id -> expiry (epoch seconds), revoked for sure
        self._lock = threading.Lock()
        self._commands_by_url: dict[str, Any] = {}  # Redis URL -> HotPathCommands on a client of it
        self._generations: dict[int, int] = {}  # user id -> generation this process announced

    def _commands(self):
        """HotPathCommands on this app's Redis (its `client` for everything else),
        or None without Redis. Redis's modules are loaded here, when first asked,
        not on import (the domain imports this module through app/auth.py)."""
        url = current_app.config.get("REDIS_URL")
        if not url:
            return None
        commands = self._commands_by_url.get(url)
        if commands is None:
            commands = self._commands_by_url[url] = library_hooks.HotPathCommands(
                library_hooks.redis_client(
                    url, socket_timeout=2, socket_connect_timeout=2, health_check_interval=15
                )
            )
        return commands

    def _redis(self):
        commands = self._commands()
        return None if commands is None else commands.client

    def _remember(self, jti, expires_at):
        now = time.time()
        with self._lock:
            self._known[jti] = expires_at
            if len(self._known) > 10_000:  # forget the ones past their expiry
                self._known = {k: v for k, v in self._known.items() if v > now}

    def revoke(self, jti: str, expires_at: float) -> None:
        """Ends the token `jti` everywhere until `expires_at` (epoch seconds);
        ApiError(unavailable) if Redis cannot record it (a logout that only this
        instance knew of would not be one)."""
        self._remember(jti, expires_at)
        client = self._redis()
        if client is not None:
            ttl = max(1, int(expires_at - time.time()) + 1)
            try:
                pipe = client.pipeline(transaction=False)
                pipe.set(PREFIX + jti, "1", ex=ttl)
                self._append(pipe, {"jti": jti})
                pipe.execute()
            except library_hooks.REDIS_ERRORS:
                raise ApiError(
                    "unavailable",
                    "Logging out is unavailable right now; try again shortly.",
                    headers={"Retry-After": "2"},
                ) from None

    def announce_generation(self, user_id: int, generation: int, keep_seconds: int) -> None:
        """Tells every instance that the user's tokens are now of `generation`, for
        `keep_seconds`. If Redis cannot record it, the change goes on (logged): while
        Redis cannot be asked, every instance reads the user from the database;
        once it is back, a copy read before the change is used until it expires
        (USER_CACHE_SECONDS), so an older token may work until then."""
        self._generations[user_id] = max(generation, self._generations.get(user_id, 0))
        client = self._redis()
        if client is not None:
            try:
                pipe = client.pipeline(transaction=False)
                pipe.set(f"{PREFIX}gen:{user_id}", str(generation), ex=max(1, keep_seconds))
                self._append(pipe, {"uid": user_id, "gen": generation})
                pipe.execute()
            except library_hooks.REDIS_ERRORS as exc:
                log.warning(
                    "could not announce a password change (%s); other instances "
                    "see it within USER_CACHE_SECONDS",
                    exc.__class__.__name__,
                )

    def session_state(self, jti: str | None, user_id: int) -> tuple[bool, int | None]:
        """(logged_out, generation) for a token and its user, in one Redis round trip.

        generation is the newest token generation announced for the user (0 if
        none is on record), or None when it is not known for sure: Redis could
        not be asked, or the token is one this process knows is logged out."""
        if jti in self._known:
            return True, None
        commands = self._commands()
        if commands is None:
            return False, self._generations.get(user_id, 0)
        keys = [f"{PREFIX}gen:{user_id}"] + ([PREFIX + jti] if jti else [])
        try:
            values = commands.mget(keys)
        except library_hooks.REDIS_ERRORS as exc:
            log.warning(
                "token revocations unavailable (%s); accepting the token", exc.__class__.__name__
            )
            return False, None
        logged_out = len(values) > 1 and values[1] is not None
        if logged_out:
            self._remember(jti, time.time() + current_app.config["TOKEN_TTL_SECONDS"])
        try:
            generation = int(values[0] or 0)
        except ValueError:
            generation = None
        return logged_out, generation

    def known_revoked(self, jti: str | None) -> bool:
        """Revoked, as far as this process already knows (no Redis round trip)."""
        return jti in self._known

    def revoked_among(self, jtis: Iterable[str | None]) -> set[str]:
        """The ids among `jtis` that are revoked (one Redis round trip)."""
        named = [j for j in set(jtis) if j]
        found = {j for j in named if j in self._known}
        rest = [j for j in named if j not in found]
        client = self._redis()
        if client is None or not rest:
            return found
        try:
            values = client.mget([PREFIX + j for j in rest])
        except library_hooks.REDIS_ERRORS as exc:
            log.warning("token revocations unavailable (%s)", exc.__class__.__name__)
            return found
        ttl = current_app.config["TOKEN_TTL_SECONDS"]
        for jti, value in zip(rest, values):
            if value is not None:
                found.add(jti)
                self._remember(jti, time.time() + ttl)
        return found

    @staticmethod
    def _append(pipe: Any, fields: dict[str, Any]) -> None:
        """Adds an entry to the feed, trimming what is older than FEED_KEEP_SECONDS."""
        oldest = int((time.time() - FEED_KEEP_SECONDS) * 1000)
        pipe.xadd(FEED, fields, minid=f"{oldest}-0", approximate=True)

    def feed_position(self) -> str | None:
        """The newest entry of the feed (FEED_START if it is empty): where a reader
        about to look at every socket starts reading afterwards. None without
        Redis or when Redis cannot be asked."""
        client = self._redis()
        if client is None:
            return None
        try:
            newest = client.xrevrange(FEED, "+", "-", count=1)
        except library_hooks.REDIS_ERRORS as exc:
            log.warning("session feed unavailable (%s)", exc.__class__.__name__)
            return None
        return _text(newest[0][0]) if newest else FEED_START

    def changes_since(self, position: str) -> FeedChanges | None:
        """The logouts and password changes added to the feed after `position`, or
        None when the feed cannot tell them all: no Redis, Redis cannot be asked,
        or entries after `position` may have been trimmed (the oldest left is
        newer than it)."""
        client = self._redis()
        if client is None:
            return None
        changes = FeedChanges(position)
        try:
            pipe = client.pipeline(transaction=False)
            pipe.xrange(FEED, "-", "+", count=1)
            pipe.xrange(FEED, "(" + position, "+", count=FEED_PAGE)
            oldest, page = pipe.execute()
            if position != FEED_START and (
                not oldest or _stream_id(_text(oldest[0][0])) > _stream_id(position)
            ):
                return None
            while True:
                for entry_id, raw in page:
                    changes.position = _text(entry_id)
                    fields = {_text(k): _text(v) for k, v in raw.items()}
                    if "jti" in fields:
                        changes.logged_out.add(fields["jti"])
                    elif "uid" in fields:
                        uid, gen = int(fields["uid"]), int(fields["gen"])
                        changes.generations[uid] = max(gen, changes.generations.get(uid, gen))
                if len(page) < FEED_PAGE:
                    break
                page = client.xrange(FEED, "(" + changes.position, "+", count=FEED_PAGE)
        except library_hooks.REDIS_ERRORS as exc:
            log.warning("session feed unavailable (%s)", exc.__class__.__name__)
            return None
        except (KeyError, ValueError):
            log.warning("session feed has an entry this version cannot read")
            return None
        ttl = current_app.config["TOKEN_TTL_SECONDS"]
        for jti in changes.logged_out:
            self._remember(jti, time.time() + ttl)
        return changes

    def clear_local(self) -> None:
        """Forget what this process remembers (tests)."""
        with self._lock:
            self._known.clear()
            self._generations.clear()


revocations = Revocations()
