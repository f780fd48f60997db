"""Sockets whose session ended: closed after a `session_ended {reason}` event.

A socket keeps the claims of the token it connected with. Its session ends
when that token expires, is logged out (app/revocations.py) or is revoked by a
password change (users.token_generation). Each instance checks its own open
sockets every SESSION_CHECK_SECONDS, and on each event a socket sends, and
closes the ended ones: this works on every instance without a message between
them. A pass reads only the logouts and password changes announced since the
one before (the Redis feed of app/revocations.py: one round trip, nothing per
socket). Every SESSION_FULL_CHECK_SECONDS, at start, and whenever the feed
cannot say for sure what changed (no Redis, Redis out of reach, entries
trimmed), a full pass asks about every socket instead: one Redis MGET for the
logged-out ids and one query for the users' generations, their ids as one
array on PostgreSQL. The full pass is what sees a change nobody announced: a
row changed or deleted behind the app's back, or during a Redis outage.
"""

import logging
import threading
import time
from collections.abc import Callable, Collection
from typing import Any

from flask import Flask
from sqlalchemy import select, text

from app import auth
from app.auth import Claims
from app.extensions import db
from app.models import User
from app.realtime.server import socketio
from app.revocations import revocations
from app.user_cache import users

log = logging.getLogger(__name__)

_open: dict = {}  # sid -> (user id, auth.Claims), this process's sockets
_lock = threading.Lock()
CHUNK = 500  # user ids per generation query


def track(sid: str, user_id: int, claims: Claims) -> None:
    with _lock:
        _open[sid] = (user_id, claims)


def forget(sid: str) -> None:
    with _lock:
        _open.pop(sid, None)


def end_socket(sid: str, reason: str) -> None:
    """Tells the socket why, then closes it (both on this instance, in that order)."""
    forget(sid)
    socketio.emit("session_ended", {"reason": reason}, to=sid, ignore_queue=True)
    socketio.server.disconnect(sid, namespace="/", ignore_queue=True)


# On PostgreSQL the ids go as one array parameter: an IN list of 500 bind
# parameters is built, bound and parsed again on every pass.
_GENERATIONS_PG = text("SELECT id, token_generation FROM users WHERE id = ANY(:ids)")


def _generations(user_ids):
    """{id: token_generation} of those of user_ids that still exist."""
    ids = sorted(user_ids)
    if db.session.get_bind().dialect.name == "postgresql":
        return dict(db.session.execute(_GENERATIONS_PG, {"ids": ids}).all())
    found = {}
    for start in range(0, len(ids), CHUNK):
        found.update(
            db.session.execute(
                select(User.id, User.token_generation).where(
                    User.id.in_(ids[start : start + CHUNK])
                )
            ).all()
        )
    return found


def check_open_sockets() -> dict[str, str]:
    """A full pass over this instance's sockets; returns {sid: reason} of those closed."""
    with _lock:
        sockets = dict(_open)
    if not sockets:
        return {}
    logged_out = revocations.revoked_among(c.token_id for _, c in sockets.values())
    user_ids = {uid for uid, _ in sockets.values()}
    generations = _generations(user_ids)
    db.session.remove()
    users().sync(user_ids, generations)
    # A user gone from the table has no generation: their sockets are revoked too.
    return _end(
        _ended_among(
            sockets, lambda uid, claims: generations.get(uid) != claims.generation, logged_out
        )
    )


def check_announced_changes(position: str) -> tuple[str, dict[str, str]] | None:
    """A pass that reads the feed after `position`: (the new position, {sid:
    reason} of the sockets closed), or None when the feed cannot tell (then a
    full pass is needed)."""
    changes = revocations.changes_since(position)
    if changes is None:
        return None
    with _lock:
        sockets = dict(_open)
    newest = changes.generations
    if newest:
        users().sync(newest, newest)
    # Only a newer generation ends a token: the feed may hold an older announcement.
    ended = _ended_among(
        sockets,
        lambda uid, claims: claims.generation < newest.get(uid, claims.generation),
        changes.logged_out,
    )
    return changes.position, _end(ended)


def _ended_among(
    sockets: dict[str, tuple[int, Claims]],
    revoked: Callable[[int, Claims], bool],
    logged_out: Collection[str],
) -> dict[str, str]:
    """{sid: reason} of the sockets whose session ended: revoked (by `revoked`),
    expired, or logged out (their token id in `logged_out`), in that order."""
    now = time.time()
    ended = {}
    for sid, (uid, claims) in sockets.items():
        if revoked(uid, claims):
            ended[sid] = "revoked"
        elif claims.expires_at <= now:
            ended[sid] = "expired"
        elif claims.token_id in logged_out:
            ended[sid] = "logged_out"
    return ended


def _end(ended: dict[str, str]) -> dict[str, str]:
    for sid, reason in ended.items():
        try:
            end_socket(sid, reason)
        except Exception:
            log.exception("could not close socket %s whose session ended", sid)
    if ended:
        log.info("closed %d sockets whose session ended", len(ended))
    return ended


class SessionChecks:
    """The passes of one process: a full pass first and every `full_every`
    seconds, and whenever the feed cannot tell; feed passes in between."""

    def __init__(self, full_every: float) -> None:
        self.full_every = full_every
        self.position: str | None = None  # in the feed; None: the next pass is full
        self.last_full = 0.0  # time.monotonic() of the last full pass
        self.full_passes = 0
        self.feed_passes = 0

    def step(self) -> dict[str, str]:
        """One pass (in an app context); returns {sid: reason} of the sockets closed."""
        if self.position is not None and time.monotonic() - self.last_full < self.full_every:
            done = check_announced_changes(self.position)
            if done is not None:
                self.position, ended = done
                self.feed_passes += 1
                return ended
        self.position = None
        # The feed's position is taken first: what is announced during the full
        # pass is read again by the next feed pass (ending a socket twice is a no-op).
        position = revocations.feed_position()
        ended = check_open_sockets()
        self.position, self.last_full = position, time.monotonic()
        self.full_passes += 1
        return ended


def session_check_loop(app: Flask) -> None:
    interval = app.config["SESSION_CHECK_SECONDS"]
    checks = SessionChecks(app.config["SESSION_FULL_CHECK_SECONDS"])
    while True:
        socketio.sleep(interval)
        try:
            with app.app_context():
                checks.step()
        except Exception:
            checks.position = None
            log.exception("session check failed; retrying")


def problem_for_event(user: User, claims: Claims) -> Any:
    """The reason a socket's session has ended, checked on each event (no Redis: the
    logouts and password changes of other instances come in through the periodic
    check above)."""
    return auth.session_problem(user, claims, revocations.known_revoked(claims.token_id))
