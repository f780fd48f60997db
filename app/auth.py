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

# Compared against when the username does not exist, so a login takes as long
# for an unknown user as for a wrong password.
_DUMMY_HASHES: dict[str, str] = {}

P = ParamSpec("P")
R = TypeVar("R")


def hash_password(password: str) -> str:
    return generate_password_hash(password, method=current_app.config["PASSWORD_HASH_METHOD"])


def password_matches(user: User | None, password: str) -> TypeGuard[User]:
    if user is None:
        method = current_app.config["PASSWORD_HASH_METHOD"]
        if method not in _DUMMY_HASHES:
            _DUMMY_HASHES[method] = generate_password_hash("not-a-password", method=method)
        check_password_hash(_DUMMY_HASHES[method], password)
        return False
    return check_password_hash(user.password_hash, password)


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
    return _serializer().dumps(
        {"uid": user.id, "gen": user.token_generation or 0, "jti": secrets.token_urlsafe(16)}
    )


def read_token(token: str | None) -> Claims:
    """The claims of a well-signed, unexpired token, or ApiError(unauthorized)."""
    if not token:
        raise ApiError("unauthorized", "A bearer token is required.")
    ttl = current_app.config["TOKEN_TTL_SECONDS"]
    try:
        data, issued = _serializer().loads(token, max_age=ttl, return_timestamp=True)
    except SignatureExpired:
        raise ApiError("unauthorized", "The token has expired; log in again.") from None
    except BadSignature:
        raise ApiError("unauthorized", "The token is not valid.") from None
    if not isinstance(data, dict) or not isinstance(data.get("uid"), int):
        raise ApiError("unauthorized", "The token is not valid.")
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
    if user is None or user.token_generation != claims.generation:
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
