"""Full-text search over the messages the caller may read."""

from typing import Any

from flask import g

from app import chat
from app.api import api_blueprint, authenticated
from app.schemas import MessagePageSchema, SearchQuerySchema

blp = api_blueprint("search", __name__, "/api", "Search")


@blp.route("/search", methods=["GET"])
@authenticated(blp, 404, 422, 429)
@blp.arguments(SearchQuerySchema, location="query")
@blp.response(200, MessagePageSchema)
def search(args: dict[str, Any]) -> dict[str, Any]:
    """Messages matching q (words stemmed, "phrases" quoted, or, -word), newest first;
    in every room I may read or in one `room`; `before` pages."""
    messages, has_more = chat.search(
        g.user, args["q"], args.get("room"), args.get("before"), args["limit"]
    )
    return {"messages": messages, "has_more": has_more}
