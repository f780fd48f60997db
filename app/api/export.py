"""A room's whole history as NDJSON, streamed."""

import json
from collections.abc import Iterator

from flask import Response, g, stream_with_context

from app.api import api_blueprint, authenticated
from app.chat import export
from app.schemas import message_schema

blp = api_blueprint("export", __name__, "/api", "Export")


@blp.route("/rooms/<name>/export", methods=["GET"])
@authenticated(blp, 403, 404)
@blp.response(
    200,
    description="One message object a line, oldest first",
    content_type="application/x-ndjson",
)
def export_room(name: str) -> Response:
    """The whole history of a room I am in, streamed as NDJSON (one message a line,
    oldest first), in constant memory whatever the room's size."""
    pages = export.export_batches(g.user, name)  # 403/404 before the stream starts

    def lines() -> Iterator[bytes]:
        for page in pages:
            yield "".join(
                json.dumps(message_schema.dump(m), ensure_ascii=False) + "\n" for m in page
            ).encode()

    response = Response(stream_with_context(lines()), mimetype="application/x-ndjson")
    response.headers["Content-Disposition"] = f'attachment; filename="{name}.ndjson"'
    return response
