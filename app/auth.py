"""Passwords and bearer tokens."""
from functools import wraps

from flask import current_app, g, request
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
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


def _serializer():
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt="auth-token")


def issue_token(user):
    return _serializer().dumps({"uid": user.id})


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
    user = db.session.get(User, data.get("uid")) if isinstance(data, dict) else None
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
