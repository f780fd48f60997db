"""REST blueprints, one module per resource, and the decorators they share."""

from flask_smorest import Blueprint

from app import jsonlimits
from app.auth import token_required
from app.config import MAX_REQUEST_TEXT
from app.errors import ErrorSchema
from app.library_hooks import JsonBodyParser

BEARER: list[dict[str, list]] = [{"bearerAuth": []}]

ERROR_DESCRIPTIONS = {
    400: "Malformed request (e.g. invalid JSON)",
    401: "Missing, invalid or expired token",
    403: "Not allowed",
    404: "Not found (also a private room the caller is not in)",
    409: "Conflict",
    413: f"Request body over {MAX_REQUEST_TEXT}",
    422: "Invalid fields",
    429: "Rate limited",
    503: "A backing service is unavailable",
}


class ChatBlueprint(Blueprint):
    # JSON bodies nested at most jsonlimits.MAX_DEPTH deep (deeper is invalid JSON:
    # 400 bad_request instead of a RecursionError).
    ARGUMENTS_PARSER = JsonBodyParser(jsonlimits.loads)

    def arguments(self, schema, **kwargs):
        """flask-smorest's, with a schema class made an instance once, here: given a
        class, webargs builds a new instance for every request, deep-copying its
        fields (docs/performance.md)."""
        return super().arguments(schema() if isinstance(schema, type) else schema, **kwargs)


def api_blueprint(name, import_name, url_prefix, description):
    return ChatBlueprint(name, import_name, url_prefix=url_prefix, description=description)


def documented_errors(blp, *statuses):
    """Documents the error responses a view can give, all in the one error shape."""

    def decorator(view):
        for status in (400, 413, 503, *statuses):
            view = blp.alt_response(
                status, schema=ErrorSchema, description=ERROR_DESCRIPTIONS[status]
            )(view)
        return view

    return decorator


def authenticated(blp, *statuses):
    """A view that needs a bearer token (401 without a good one)."""

    def decorator(view):
        view = token_required(view)
        view = blp.doc(security=BEARER)(view)
        return documented_errors(blp, 401, *statuses)(view)

    return decorator
