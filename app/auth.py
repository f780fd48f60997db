"""Passwords and bearer tokens, and the short per-process cache of the users they name."""
import time
from functools import wraps

from flask import current_app, g, request
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy.orm import make_transient_to_detached
from werkzeug.security import check_password_hash, generate_password_hash

from app.errors import ApiError
from app.extensions import db
from app.models import User

# Compared against when the username does not exist, so a login takes as long
# for an unknown user as for a wrong password.
_DUMMY_HASHES = {}


def hash_password(password):
    return generate_password_hash(password, method=current_app.config["PASSWORD_HASH_METHOD"])


def password_matches(user, password):
    if user is None:
        method = current_app.config["PASSWORD_HASH_METHOD"]
        if method not in _DUMMY_HASHES:
            _DUMMY_HASHES[method] = generate_password_hash("not-a-password", method=method)
        check_password_hash(_DUMMY_HASHES[method], password)
        return False
    return check_password_hash(user.password_hash, password)


_serializers = {}


def _serializer():
    secret = current_app.config["SECRET_KEY"]
    if secret not in _serializers:
        _serializers[secret] = URLSafeTimedSerializer(secret, salt="auth-token")
    return _serializers[secret]


def issue_token(user):
    return _serializer().dumps({"uid": user.id})


# user id -> (monotonic expiry, the user's public columns). Every request and
# socket event names its user; reading the row each time cost a round trip to
# PostgreSQL per operation (docs/performance.md). The password hash is not
# kept: code that needs it loads it from the database.
_users = {}
_CACHED_COLUMNS = ("id", "username", "display_name", "created_at")


def forget_user(user_id):
    """Drop a user from this process's cache: call it when a user is deleted, renamed
    or has their tokens revoked (the next request reads the row again)."""
    _users.pop(user_id, None)


def forget_all_users():
    _users.clear()


def cached_user(user_id):
    """The user with this id, attached to the current session, or None.

    Served from this process's cache for USER_CACHE_SECONDS after it was read,
    without a query; a change to the user is seen by other processes once their
    entry expires, by this one as soon as forget_user() is called."""
    ttl = current_app.config["USER_CACHE_SECONDS"]
    now = time.monotonic()
    hit = _users.get(user_id) if ttl > 0 else None
    if hit is not None and hit[0] > now:
        copy = User(**hit[1])
        make_transient_to_detached(copy)
        return db.session.merge(copy, load=False)
    user = db.session.get(User, user_id) if isinstance(user_id, int) else None
    if user is None:
        _users.pop(user_id, None)
    elif ttl > 0:
        _users[user_id] = (now + ttl, {c: getattr(user, c) for c in _CACHED_COLUMNS})
    return user


def user_for_token(token):
    """The user a token names, or ApiError(unauthorized) saying why not."""
    if not token:
        raise ApiError("unauthorized", "A bearer token is required.")
    try:
        data = _serializer().loads(token, max_age=current_app.config["TOKEN_TTL_SECONDS"])
    except SignatureExpired:
        raise ApiError("unauthorized", "The token has expired; log in again.") from None
    except BadSignature:
        raise ApiError("unauthorized", "The token is not valid.") from None
    user = cached_user(data.get("uid")) if isinstance(data, dict) else None
    if user is None:
        raise ApiError("unauthorized", "The token's user no longer exists.")
    return user


def bearer_token():
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def token_required(view):
    """Sets g.user from the Authorization header, or answers 401."""

    @wraps(view)
    def wrapper(*args, **kwargs):
        g.user = user_for_token(bearer_token())
        return view(*args, **kwargs)

    return wrapper
