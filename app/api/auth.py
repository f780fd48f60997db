"""Registration, login and logout."""

import logging
from typing import Any

from flask import current_app, g

from app import chat, metrics
from app.api import api_blueprint, authenticated, documented_errors
from app.errors import ApiError
from app.extensions import limiter
from app.schemas import AuthResponseSchema, LoginSchema, RegisterSchema

log = logging.getLogger(__name__)

blp = api_blueprint("auth", __name__, "/api/auth", "Register, log in and out")


def _auth_limit() -> str:
    return current_app.config["AUTH_RATE_LIMIT"]


@blp.route("/register", methods=["POST"])
@limiter.limit(_auth_limit)
@documented_errors(blp, 409, 422, 429)
@blp.arguments(RegisterSchema)
@blp.response(201, AuthResponseSchema)
def register(data: dict[str, Any]) -> dict[str, Any]:
    """Create a user and return it with a token."""
    user, token = chat.register(data["username"], data["password"], data.get("display_name"))
    log.info("registered", extra={"user_id": user.id})
    return {"user": user, "token": token}


@blp.route("/login", methods=["POST"])
@limiter.limit(_auth_limit)
@documented_errors(blp, 401, 422, 429)
@blp.arguments(LoginSchema)
@blp.response(200, AuthResponseSchema)
def login(data: dict[str, Any]) -> dict[str, Any]:
    """Log in with a username and password; returns a token."""
    try:
        user, token = chat.login(data["username"], data["password"])
    except ApiError:
        metrics.LOGINS.labels("failed").inc()
        log.info("login failed")
        raise
    metrics.LOGINS.labels("ok").inc()
    log.info("logged in", extra={"user_id": user.id})
    return {"user": user, "token": token}


@blp.route("/logout", methods=["POST"])
@authenticated(blp)
@blp.response(204)
def logout() -> None:
    """End this token's session: it stops working everywhere, and its sockets close."""
    chat.logout(g.token_claims)
    log.info("logged out")
