"""Bots, their API tokens, and the incoming webhooks that post as them."""

from typing import Any

from flask import Response, g, jsonify, request

from app.api import api_blueprint, authenticated, documented_errors
from app.chat import bots
from app.errors import ApiError
from app.schemas import (
    AuthResponseSchema,
    BotCreateSchema,
    BotListSchema,
    HookPostSchema,
    HookResultSchema,
    TokenSchema,
    WebhookCreateSchema,
    WebhookListSchema,
    WebhookSchema,
    load_or_raise,
    shaped_message,
)

blp = api_blueprint("bots", __name__, "/api", "Bots and incoming webhooks")
hooks = api_blueprint("hooks", __name__, "/hooks", "Incoming webhooks (no token)")


@blp.route("/bots", methods=["POST"])
@authenticated(blp, 403, 409, 422)
@blp.arguments(BotCreateSchema)
@blp.response(201, AuthResponseSchema)
def create_bot(data: dict[str, Any]) -> dict[str, Any]:
    """Create a bot of mine; its API token is in the answer, this once."""
    bot, token = bots.create_bot(g.user, data["username"], data.get("display_name"))
    return {"user": bot, "token": token}


@blp.route("/bots", methods=["GET"])
@authenticated(blp)
@blp.response(200, BotListSchema)
def list_bots() -> dict[str, Any]:
    """My bots."""
    return {"bots": bots.bots_of(g.user)}


@blp.route("/bots/<username>", methods=["DELETE"])
@authenticated(blp, 404)
@blp.response(204)
def delete_bot(username: str) -> None:
    """Delete my bot: its webhooks go, its sessions end, its messages stay."""
    bots.delete_bot(g.user, username)


@blp.route("/bots/<username>/token", methods=["POST"])
@authenticated(blp, 404)
@blp.response(200, TokenSchema)
def rotate_token(username: str) -> dict[str, Any]:
    """A new API token for my bot; the old one stops working everywhere and its
    sockets are closed."""
    return {"token": bots.rotate_token(g.user, username)}


def _webhook_url(secret: str) -> str:
    return f"{request.host_url}hooks/{secret}"


@blp.route("/rooms/<name>/webhooks", methods=["POST"])
@authenticated(blp, 403, 404, 409, 422)
@blp.arguments(WebhookCreateSchema)
@blp.response(201, WebhookSchema)
def create_webhook(data: dict[str, Any], name: str) -> dict[str, Any]:
    """An incoming webhook posting into the room as one of my bots (added to the
    room if it is not in it); owner or admin, at most 10 a room. Its `url` is
    shown this once."""
    hook, secret = bots.create_webhook(g.user, name, data["bot"])
    return {**bots.webhook_view(hook), "url": _webhook_url(secret)}


@blp.route("/rooms/<name>/webhooks", methods=["GET"])
@authenticated(blp, 403, 404)
@blp.response(200, WebhookListSchema)
def list_webhooks(name: str) -> dict[str, Any]:
    """The room's webhooks (without their secret URLs); owner or admin."""
    return {"webhooks": [bots.webhook_view(h) for h in bots.webhooks(g.user, name)]}


@blp.route("/rooms/<name>/webhooks/<int:webhook_id>", methods=["DELETE"])
@authenticated(blp, 403, 404)
@blp.response(204)
def delete_webhook(name: str, webhook_id: int) -> None:
    """Delete a webhook; owner or admin."""
    bots.delete_webhook(g.user, name, webhook_id)


def _hook_body() -> Any:
    """{"text"} from a JSON body, or from Slack's form body `payload=<JSON>`."""
    if request.mimetype == "application/x-www-form-urlencoded":
        payload = request.form.get("payload")
        if payload is None:
            raise ApiError("bad_request", "A form body needs a `payload` field of JSON.")
        from app import jsonlimits

        try:
            return jsonlimits.loads(payload)
        except ValueError:
            raise ApiError("bad_request", "`payload` is not valid JSON.") from None
    data = request.get_json(silent=True)
    if data is None:
        raise ApiError("bad_request", "The body must be JSON, or a form with `payload`.")
    return data


@hooks.route("/<secret>", methods=["POST"])
@documented_errors(hooks, 404, 422, 429)
@hooks.doc(
    requestBody={
        "required": True,
        "content": {
            "application/json": {"schema": HookPostSchema},
            "application/x-www-form-urlencoded": {
                "schema": {
                    "type": "object",
                    "properties": {
                        "payload": {"type": "string", "description": 'JSON: {"text": "..."}'}
                    },
                    "required": ["payload"],
                }
            },
        },
    }
)
@hooks.response(200, HookResultSchema)
def post_hook(secret: str) -> Response:
    """Post `text` into the webhook's room as its bot. No token: the secret URL is
    the credential. At most 10 messages a second (bursts of 20) per webhook."""
    hook = bots.find_webhook(secret)  # an unknown secret learns nothing about bodies
    data = load_or_raise(HookPostSchema(), _hook_body())
    message = bots.post_through(hook, data["text"], shape=shaped_message)
    return jsonify({"ok": True, "message_id": message.id})
