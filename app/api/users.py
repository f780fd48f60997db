"""Users: who am I, my password, and search."""

from typing import Any

from flask import current_app, g

from app import chat
from app.api import api_blueprint, authenticated
from app.extensions import limiter
from app.models import User
from app.schemas import (
    AuthResponseSchema,
    PasswordChangeSchema,
    UserListSchema,
    UserQuerySchema,
    UserSchema,
)

blp = api_blueprint("users", __name__, "/api", "Users")


@blp.route("/me", methods=["GET"])
@authenticated(blp)
@blp.response(200, UserSchema)
def me() -> User:
    """The user the token belongs to."""
    return g.user


@blp.route("/me/password", methods=["PUT"])
@limiter.limit(lambda: current_app.config["AUTH_RATE_LIMIT"])
@authenticated(blp, 422, 429)
@blp.arguments(PasswordChangeSchema)
@blp.response(200, AuthResponseSchema)
def change_password(data: dict[str, Any]) -> dict[str, Any]:
    """Change my password; every token issued before stops working (a fresh one is returned)."""
    user, token = chat.change_password(g.user, data["current_password"], data["new_password"])
    return {"user": user, "token": token}


@blp.route("/users", methods=["GET"])
@authenticated(blp, 422)
@blp.arguments(UserQuerySchema, location="query")
@blp.response(200, UserListSchema)
def search(args: dict[str, Any]) -> dict[str, Any]:
    """Users whose username starts with q (at most 20)."""
    return {"users": chat.search_users(args["q"])}
