"""Users: who am I, and search."""
from flask import g

from app import chat
from app.api import api_blueprint, authenticated
from app.schemas import UserListSchema, UserQuerySchema, UserSchema

blp = api_blueprint("users", __name__, "/api", "Users")


@blp.route("/me", methods=["GET"])
@authenticated(blp)
@blp.response(200, UserSchema)
def me():
    """The user the token belongs to."""
    return g.user


@blp.route("/users", methods=["GET"])
@authenticated(blp, 422)
@blp.arguments(UserQuerySchema, location="query")
@blp.response(200, UserListSchema)
def search(args):
    """Users whose username starts with q (at most 20)."""
    return {"users": chat.search_users(args["q"])}
