"""Message history, sending, editing and deleting."""

from typing import Any

from flask import Response, g, jsonify

from app import chat
from app.api import api_blueprint, authenticated
from app.models import Message
from app.schemas import (
    HistoryQuerySchema,
    MessageCreateSchema,
    MessageEditSchema,
    MessagePageSchema,
    MessageSchema,
    ThreadQuerySchema,
    shaped_message,
)

blp = api_blueprint("messages", __name__, "/api", "Messages")


@blp.route("/rooms/<name>/messages", methods=["GET"])
@authenticated(blp, 403, 404, 422)
@blp.arguments(HistoryQuerySchema, location="query")
@blp.response(200, MessagePageSchema)
def history(args: dict[str, Any], name: str) -> dict[str, Any]:
    """A page of history, oldest first; `before`/`after` are message ids; `around`
    gives the page centred on a message (for jumping to a search hit)."""
    if "around" in args:
        messages, has_more, has_newer = chat.history_around(
            g.user, name, args["around"], args["limit"]
        )
        return {"messages": messages, "has_more": has_more, "has_newer": has_newer}
    messages, has_more = chat.history(
        g.user, name, args.get("before"), args.get("after"), args["limit"]
    )
    return {"messages": messages, "has_more": has_more}


@blp.route("/rooms/<name>/messages", methods=["POST"])
@authenticated(blp, 403, 404, 422, 429)
@blp.arguments(MessageCreateSchema)
@blp.response(201, MessageSchema)
@blp.alt_response(
    200, schema=MessageSchema, description="The message already sent with this client_id"
)
def send(data: dict[str, Any], name: str) -> tuple[Response, int]:
    """Send a message; it is also delivered live to the room's sockets everywhere.

    `reply_to`: a message id of the same room (else 422 on `reply_to`); the
    room then also hears `thread` with the parent's new reply count."""
    _, created, shaped = chat.send_message(
        g.user,
        name,
        data["body"] or "",
        data.get("client_id"),
        shape=shaped_message,
        reply_to=data.get("reply_to"),
        attachments=data.get("attachments"),
    )
    # The shape its broadcast sent (one dump per send).
    return jsonify(shaped), 201 if created else 200


@blp.route("/messages/<int:message_id>", methods=["PATCH"])
@authenticated(blp, 403, 404, 409, 422)
@blp.arguments(MessageEditSchema)
@blp.response(200, MessageSchema)
def edit(data: dict[str, Any], message_id: int) -> Message:
    """Edit my message."""
    return chat.edit_message(g.user, message_id, data["body"])


@blp.route("/messages/<int:message_id>", methods=["DELETE"])
@authenticated(blp, 403, 404)
@blp.response(200, MessageSchema)
def delete(message_id: int) -> Message:
    """Delete my message, or, as the room's owner or an admin, anyone's (it then says
    `deleted_by: moderator`); it keeps its id, with an empty body."""
    return chat.delete_message(g.user, message_id)


@blp.route("/messages/<int:message_id>/thread", methods=["GET"])
@authenticated(blp, 403, 404, 422)
@blp.arguments(ThreadQuerySchema, location="query")
@blp.response(200, MessagePageSchema)
def thread(args: dict[str, Any], message_id: int) -> dict[str, Any]:
    """The replies to a message, oldest first; `after` is a reply id (the next
    page). Members of its room only: 404 for a private room I am not in, 403
    for a public room I have not joined."""
    messages, has_more = chat.thread(g.user, message_id, args.get("after"), args["limit"])
    return {"messages": messages, "has_more": has_more}
