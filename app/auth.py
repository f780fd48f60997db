"""Passwords and bearer tokens, and how a token's session ends.

A token is signed (itsdangerous) and expires after TOKEN_TTL_SECONDS. It names
its user, the user's token generation when it was issued, and a random token
id. It stops working, on every instance, when:
- it expires;
- it is logged out: its id is revoked (app/revocations.py);
- its user changes their password: users.token_generation moves on, and
  every token of an older generation is refused.
"""

import secrets
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import ParamSpec, TypeGuard, TypeVar

from flask import current_app, g, request
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from werkzeug.security import check_password_hash, generate_password_hash

from app.errors import ApiError
from app.models import User
from app.revocations import revocations
from app.user_cache import users

T = TypeVar("T")

# Compared against when the username does not exist, so a login takes as long
# for an unknown user as for a wrong password.
_DUMMY_HASHES: dict[str, str] = {}
# Hashes running or waiting for a thread, bounded by PASSWORD_HASH_THREADS (made on
# first use: under gevent or eventlet, after the worker has monkey-patched).
_HASH_SLOTS: dict[int, threading.BoundedSemaphore] = {}


def _in_os_thread(func: Callable[..., T], *args: object) -> T:
    """func(*args) in a real OS thread, the caller's event loop going on meanwhile.

    scrypt and PBKDF2 release the GIL, so a hash runs in parallel with the loop
    instead of stalling every request and socket of the instance. Under eventlet
    the thread is eventlet.tpool's, under gevent the hub's threadpool; without
    monkey-patching (the threading mode, CLI commands) the caller is a real thread
    already. At most PASSWORD_HASH_THREADS run at once: scrypt takes 128 MiB each
    at N=2^17 (the others wait, green)."""
    limit = current_app.config["PASSWORD_HASH_THREADS"]
    slots = _HASH_SLOTS.get(limit)
    if slots is None:
        slots = _HASH_SLOTS.setdefault(limit, threading.BoundedSemaphore(limit))
    with slots:
        gevent_monkey = sys.modules.get("gevent.monkey")
        if gevent_monkey is not None and gevent_monkey.is_module_patched("threading"):
            import gevent

            return gevent.get_hub().threadpool.apply(func, args)
        patcher = sys.modules.get("eventlet.patcher")
        if patcher is not None and patcher.is_monkey_patched("thread"):
            from eventlet import tpool

            return tpool.execute(func, *args)
        return func(*args)


P = ParamSpec("P")
R = TypeVar("R")


def hash_password(password: str) -> str:
    return _in_os_thread(
        generate_password_hash, password, current_app.config["PASSWORD_HASH_METHOD"]
    )


def _dummy_hash(method: str) -> str:
    if method not in _DUMMY_HASHES:
        _DUMMY_HASHES[method] = _in_os_thread(generate_password_hash, "not-a-password", method)
    return _DUMMY_HASHES[method]


def password_matches(user: User | None, password: str) -> TypeGuard[User]:
    if user is None:
        method = current_app.config["PASSWORD_HASH_METHOD"]
        _in_os_thread(check_password_hash, _dummy_hash(method), password)
        return False
    return _in_os_thread(check_password_hash, user.password_hash, password)


def needs_rehash(password_hash: str) -> bool:
    """True when a stored hash was made with other parameters than
    PASSWORD_HASH_METHOD's (e.g. scrypt at N=2^15 where 2^17 is asked for): the next
    successful login stores a new one."""
    wanted = _dummy_hash(current_app.config["PASSWORD_HASH_METHOD"]).split("$", 1)[0]
    return password_hash.split("$", 1)[0] != wanted


_SERIALIZERS: dict = {}


def _serializer():
    """The token serializer for this app's secret, built once per secret: every
    request reads a token with it."""
    secret = current_app.config["SECRET_KEY"]
    serializer = _SERIALIZERS.get(secret)
    if serializer is None:
        serializer = _SERIALIZERS[secret] = URLSafeTimedSerializer(secret, salt="auth-token")
    return serializer


@dataclass(frozen=True)
class Claims:
    """What a valid token says: whose it is, its generation and id, when it expires."""

    user_id: int
    generation: int
    token_id: str | None
    expires_at: float  # epoch seconds


def issue_token(user: User) -> str:
    """A token for the user; a bot's (its API token) lives BOT_TOKEN_TTL_SECONDS."""
    claims = {"uid": user.id, "gen": user.token_generation or 0, "jti": secrets.token_urlsafe(16)}
    if user.bot:
        claims["bot"] = True
    return _serializer().dumps(claims)


def read_token(token: str | None) -> Claims:
    """The claims of a well-signed, unexpired token, or ApiError(unauthorized)."""
    if not token:
        raise ApiError("unauthorized", "A bearer token is required.")
    ttl = current_app.config["TOKEN_TTL_SECONDS"]
    bot_ttl = current_app.config["BOT_TOKEN_TTL_SECONDS"]
    try:
        data, issued = _serializer().loads(token, max_age=max(ttl, bot_ttl), return_timestamp=True)
    except SignatureExpired:
        raise ApiError("unauthorized", "The token has expired; log in again.") from None
    except BadSignature:
        raise ApiError("unauthorized", "The token is not valid.") from None
    if not isinstance(data, dict) or not isinstance(data.get("uid"), int):
        raise ApiError("unauthorized", "The token is not valid.")
    if data.get("bot") is True:
        ttl = bot_ttl
    if issued.timestamp() + ttl <= time.time():
        raise ApiError("unauthorized", "The token has expired; log in again.")
    jti = data.get("jti")
    return Claims(
        data["uid"],
        data.get("gen", 0),
        jti if isinstance(jti, str) else None,
        issued.timestamp() + ttl,
    )


def session_problem(user: User | None, claims: Claims, logged_out: bool) -> str | None:
    """Why a token's session has ended ("expired", "revoked", "logged_out"), or None.

    logged_out: whether the token's id is known to be revoked (app/revocations.py)."""
    if user is None or user.token_generation != claims.generation or user.deactivated_at:
        return "revoked"
    if claims.expires_at <= time.time():
        return "expired"
    if logged_out:
        return "logged_out"
    return None


SESSION_ENDED_MESSAGES = {
    "expired": "The token has expired; log in again.",
    "logged_out": "The token was logged out; log in again.",
    "revoked": "The token was revoked (password changed); log in again.",
}


def authenticate(token: str | None) -> tuple[User, Claims]:
    """(user, claims) for a token that still works, or ApiError(unauthorized)."""
    claims = read_token(token)
    logged_out, announced = revocations.session_state(claims.token_id, claims.user_id)
    newest = None if announced is None else max(announced, claims.generation)
    user = users().user(claims.user_id, newest)
    if user is None:
        raise ApiError("unauthorized", "The token's user no longer exists.")
    problem = session_problem(user, claims, logged_out)
    if problem:
        raise ApiError("unauthorized", SESSION_ENDED_MESSAGES[problem])
    return user, claims


def user_for_token(token: str | None) -> User:
    """The user a token names, or ApiError(unauthorized) saying why not."""
    return authenticate(token)[0]


def end_session(claims: Claims) -> None:
    """Logout: the token stops working everywhere."""
    if claims.token_id:
        revocations.revoke(claims.token_id, claims.expires_at)


def end_all_sessions(user: User) -> None:
    """Every token issued to the user so far stops working, on every instance (the
    caller commits)."""
    user.token_generation = (user.token_generation or 0) + 1
    revocations.announce_generation(
        user.id, user.token_generation, current_app.config["USER_CACHE_SECONDS"] + 60
    )
    users().forget(user.id)


def bearer_token() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def token_required(view: Callable[P, R]) -> Callable[P, R]:
    """Sets g.user (and g.token_claims) from the Authorization header, or answers 401."""

    @wraps(view)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        g.user, g.token_claims = authenticate(bearer_token())
        return view(*args, **kwargs)

    return wrapper
