"""Reactions to messages."""

from flask import g

from app import chat
from app.api import api_blueprint, authenticated
from app.models import Message
from app.schemas import EMOJI_PATTERN, MessageSchema, ReactionPathSchema, load_or_raise

blp = api_blueprint("reactions", __name__, "/api", "Reactions to messages")
_emoji = ReactionPathSchema()
# The path's emoji as the document states it (the rule is app/chat/reactions.py's).
EMOJI_PARAMETER = {
    "in": "path",
    "name": "emoji",
    "required": True,
    "schema": {"type": "string", "pattern": EMOJI_PATTERN},
    "description": "An emoji: 1 to 32 characters, no whitespace or control character.",
}


def _react(message_id: int, emoji: str, on: bool):
    data = load_or_raise(_emoji, {"emoji": emoji})
    return chat.react(g.user, message_id, data["emoji"], on)


@blp.route(
    "/messages/<int:message_id>/reactions/<emoji>", methods=["PUT"], parameters=[EMOJI_PARAMETER]
)
@authenticated(blp, 403, 404, 409, 422, 429)
@blp.response(200, MessageSchema)
def add(message_id: int, emoji: str) -> Message:
    """React to a message with an emoji (idempotent); members only."""
    return _react(message_id, emoji, True)


@blp.route(
    "/messages/<int:message_id>/reactions/<emoji>",
    methods=["DELETE"],
    parameters=[EMOJI_PARAMETER],
)
@authenticated(blp, 403, 404, 409, 422, 429)
@blp.response(200, MessageSchema)
def remove(message_id: int, emoji: str) -> Message:
    """Take my reaction back (idempotent)."""
    return _react(message_id, emoji, False)
