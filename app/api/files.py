"""Uploads, and the bytes of uploaded files."""

from typing import Any
from urllib.parse import quote

from flask import Response, current_app, g, jsonify, request, stream_with_context

from app import chat
from app.api import api_blueprint, authenticated
from app.chat.images import THUMBNAIL_TYPE
from app.errors import ApiError
from app.file_storage import ORIGINAL, THUMBNAIL, storage
from app.schemas import AttachmentSchema, UploadFormSchema, shaped_attachment

blp = api_blueprint("files", __name__, "/api", "Files")

# What a multipart body may hold beyond the file itself (boundaries, headers).
MULTIPART_OVERHEAD = 64 * 1024
# On every file response: nothing in it runs, even if a browser were to open it
# as a document.
FILE_CSP = "default-src 'none'; sandbox"


@blp.before_request
def larger_bodies_for_uploads() -> None:
    """An upload's body may be larger than the app's 64 KiB for everything else."""
    if request.endpoint == "files.upload":
        limit = current_app.config["MAX_UPLOAD_BYTES"] + MULTIPART_OVERHEAD
        request.max_content_length = limit
        if request.content_length is not None and request.content_length > limit:
            raise ApiError(
                "payload_too_large",
                f"A file may be at most {current_app.config['MAX_UPLOAD_BYTES']} bytes.",
            )


@blp.route("/uploads", methods=["POST"])
@authenticated(blp, 422, 429)
@blp.arguments(UploadFormSchema, location="files")
@blp.response(201, AttachmentSchema)
def upload(files: dict[str, Any]) -> tuple[Response, int]:
    """Upload a file (multipart/form-data, field `file`) to attach to a message within
    24 hours. Its content type is sniffed from the bytes; images get width, height
    and a thumbnail. 413 over MAX_UPLOAD_BYTES or past the quota."""
    sent = files["file"]
    stored = chat.upload(g.user, sent.filename, sent.stream)
    return jsonify(shaped_attachment(stored)), 201


# The type is the file's own (sniffed): any.
BINARY = {
    "200": {
        "description": "The bytes, as their sniffed content type",
        "content": {"*/*": {"schema": {"type": "string", "format": "binary"}}},
    }
}


@blp.route("/files/<int:file_id>", methods=["GET"])
@authenticated(blp, 404)
@blp.doc(responses=BINARY)
def file(file_id: int) -> Response:
    """The file's bytes, to members of the room whose message carries it (to its
    uploader before that); images inline, anything else as a download."""
    stored = chat.readable_file(g.user, file_id)
    disposition = "inline" if stored.is_image else "attachment"
    return _stream(stored.id, ORIGINAL, stored.content_type, stored.size, disposition, stored.name)


@blp.route("/files/<int:file_id>/thumbnail", methods=["GET"])
@authenticated(blp, 404)
@blp.doc(responses=BINARY)
def thumbnail(file_id: int) -> Response:
    """An image's thumbnail (WebP, at most 320 pixels a side); 404 for other files."""
    stored = chat.readable_file(g.user, file_id)
    if not stored.is_image or stored.thumbnail_size is None:
        raise ApiError("not_found", f"File {file_id} has no thumbnail.")
    return _stream(
        stored.id,
        THUMBNAIL,
        THUMBNAIL_TYPE,
        stored.thumbnail_size,
        "inline",
        f"thumbnail-{stored.id}.webp",
    )


def content_disposition(disposition: str, name: str) -> str:
    """`attachment` or `inline` with the name as an ASCII fallback and RFC 5987's
    UTF-8 `filename*` (quotes, backslashes and anything not printable ASCII
    replaced in the fallback)."""
    fallback = "".join(c if 32 <= ord(c) < 127 and c not in '"\\;' else "_" for c in name)
    return f"{disposition}; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"


def _stream(
    file_id: int, kind: str, content_type: str, size: int, disposition: str, name: str
) -> Response:
    response = Response(
        stream_with_context(storage.read(file_id, kind)),
        mimetype=content_type,
        direct_passthrough=True,
    )
    response.content_length = size
    response.headers["Content-Disposition"] = content_disposition(disposition, name)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = FILE_CSP
    # A file never changes; who may read it can, so no shared cache keeps it.
    response.headers["Cache-Control"] = "private, max-age=3600"
    return response
