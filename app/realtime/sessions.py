"""Sockets whose session ended: closed after a `session_ended {reason}` event.

A socket keeps the claims of the token it connected with. Its session ends
when that token expires, is logged out (app/revocations.py) or is revoked by a
password change (users.token_generation); each instance checks its own open
sockets every SESSION_CHECK_SECONDS (one Redis MGET for the logged-out ids, one
query for the users' generations, their ids as one array on PostgreSQL) and on
each event a socket sends, and closes the ended ones: this works on every
instance without a message between them.
"""

import logging
import threading
import time
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
    """One pass over this instance's sockets; returns {sid: reason} of those closed."""
    with _lock:
        sockets = dict(_open)
    if not sockets:
        return {}
    logged_out = revocations.revoked_among(c.token_id for _, c in sockets.values())
    user_ids = {uid for uid, _ in sockets.values()}
    generations = _generations(user_ids)
    db.session.remove()
    users().sync(user_ids, generations)
    now = time.time()
    ended = {}
    for sid, (uid, claims) in sockets.items():
        if generations.get(uid) != claims.generation:
            ended[sid] = "revoked"
        elif claims.expires_at <= now:
            ended[sid] = "expired"
        elif claims.token_id in logged_out:
            ended[sid] = "logged_out"
    for sid, reason in ended.items():
        try:
            end_socket(sid, reason)
        except Exception:
            log.exception("could not close socket %s whose session ended", sid)
    if ended:
        log.info("closed %d sockets whose session ended", len(ended))
    return ended


def session_check_loop(app: Flask) -> None:
    interval = app.config["SESSION_CHECK_SECONDS"]
    while True:
        socketio.sleep(interval)
        try:
            with app.app_context():
                check_open_sockets()
        except Exception:
            log.exception("session check failed; retrying")


def problem_for_event(user: User, claims: Claims) -> Any:
    """The reason a socket's session has ended, checked on each event (no Redis: the
    logouts and password changes of other instances come in through the periodic
    check above)."""
    return auth.session_problem(user, claims, revocations.known_revoked(claims.token_id))
