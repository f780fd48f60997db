"""The one error type and the handlers that turn every failure into its JSON shape."""

import logging
from typing import Any

from flask import Flask, Response, current_app, jsonify
from marshmallow import Schema, fields
from sqlalchemy.exc import DBAPIError, OperationalError
from werkzeug.exceptions import HTTPException

from app.config import MAX_REQUEST_TEXT

log = logging.getLogger(__name__)

STATUS = {
    "bad_request": 400,
    "unauthorized": 401,
    "forbidden": 403,
    "not_found": 404,
    "method_not_allowed": 405,
    "conflict": 409,
    "payload_too_large": 413,
    "validation_error": 422,
    "rate_limited": 429,
    "internal_error": 500,
    "unavailable": 503,
}
CODE_FOR_STATUS = {status: code for code, status in STATUS.items()}


class ErrorDetailSchema(Schema):
    code = fields.String(required=True)
    message = fields.String(required=True)
    fields_ = fields.Dict(keys=fields.String(), values=fields.String(), data_key="fields")


class ErrorSchema(Schema):
    """The one error shape, REST and Socket.IO alike: {"error": {code, message, fields?}}."""

    error = fields.Nested(ErrorDetailSchema, required=True)


class ApiError(Exception):
    """A failure a client should see: a code from the contract, a message, maybe fields."""

    def __init__(
        self,
        code: str,
        message: str,
        fields: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        if code not in STATUS:
            raise ValueError(f"unknown error code {code!r}")
        self.code = code
        self.message = message
        self.fields = fields
        self.headers = headers or {}

    @property
    def status(self) -> int:
        return STATUS[self.code]

    def to_dict(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.fields:
            error["fields"] = self.fields
        return {"error": error}


def flatten_fields(messages: Any, prefix: str = "") -> dict[str, str]:
    """Marshmallow's nested {field: [msgs]} as {"field": "msg; msg"}."""
    flat = {}
    if isinstance(messages, dict):
        for key, value in messages.items():
            name = f"{prefix}.{key}" if prefix else str(key)
            if isinstance(value, dict):
                flat.update(flatten_fields(value, name))
            elif isinstance(value, (list, tuple)):
                flat[name] = "; ".join(str(v) for v in value)
            else:
                flat[name] = str(value)
    elif messages:
        flat[prefix or "_schema"] = "; ".join(map(str, messages))
    return flat


def validation_error(messages: Any) -> ApiError:
    return ApiError(
        "validation_error", "The request has invalid fields.", fields=flatten_fields(messages)
    )


def from_http_exception(exc: HTTPException) -> ApiError:
    """An ApiError for a werkzeug/webargs HTTPException."""
    if exc.code == 422:
        messages = getattr(exc, "data", {}).get("messages", {})
        # webargs nests errors by location ({"json": {...}, "query": {...}})
        merged = {}
        for value in messages.values() if isinstance(messages, dict) else []:
            if isinstance(value, dict):
                merged.update(value)
        return validation_error(merged or messages)
    status = exc.code or 500
    code = CODE_FOR_STATUS.get(status, "internal_error" if status >= 500 else "bad_request")
    messages = {
        "bad_request": "The request could not be understood (is the body valid JSON?).",
        "not_found": "No such resource.",
        "method_not_allowed": f"Method not allowed here; allowed: "
        f"{', '.join(sorted(getattr(exc, 'valid_methods', None) or []))}",
        "payload_too_large": f"The request body is larger than {MAX_REQUEST_TEXT}.",
        "rate_limited": "Too many requests; slow down.",
    }
    message = messages.get(code) or exc.description or exc.name
    return ApiError(code, message)


def error_response(error: ApiError) -> Response:
    response = jsonify(error.to_dict())
    response.status_code = error.status
    response.headers.update(error.headers)
    return response


# What a database that cannot serve says (anything else is a bug, 500): SQLSTATE
# classes 08 connection exception, 53 insufficient resources, 57 operator
# intervention (shutdown, cannot connect now, statement timeout); SQLite's
# file and lock errors. An OperationalError with no SQLSTATE at all is the
# driver failing to reach the server.
OUTAGE_SQLSTATE_CLASSES = ("08", "53", "57")
SQLITE_OUTAGE_MESSAGES = (
    "unable to open database",
    "database is locked",
    "disk i/o error",
    "readonly database",
    "database disk image is malformed",
)


def is_database_down(exc: BaseException) -> bool:
    """True for a real outage (503 unavailable), not for a failing statement."""
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    if not isinstance(exc, OperationalError):
        return False
    orig = exc.orig
    sqlstate = getattr(orig, "pgcode", None)
    if sqlstate:
        return sqlstate[:2] in OUTAGE_SQLSTATE_CLASSES
    if type(orig).__module__ == "sqlite3":
        return any(m in str(orig).lower() for m in SQLITE_OUTAGE_MESSAGES)
    return True


def unexpected_error(exc: BaseException) -> ApiError:
    """The ApiError for an exception no handler expected, REST and Socket.IO alike:
    the session is rolled back, a database outage is 503, anything else is logged
    and 500."""
    # The app's Flask-SQLAlchemy (app.extensions imports this module, not the reverse).
    current_app.extensions["sqlalchemy"].session.rollback()
    if is_database_down(exc):
        log.warning("database unavailable: %s", exc.__class__.__name__)
        return ApiError(
            "unavailable",
            "The database is unavailable; try again shortly.",
            headers={"Retry-After": "2"},
        )
    log.exception("unhandled error")
    return ApiError("internal_error", "Something went wrong on our side.")


def register_error_handlers(app: Flask) -> None:
    """Every exception, REST-side, leaves as the one JSON error shape."""

    @app.errorhandler(ApiError)
    def handle_api_error(error: ApiError) -> Response:
        return error_response(error)

    @app.errorhandler(HTTPException)
    def handle_http_exception(exc: HTTPException) -> Response:
        error = from_http_exception(exc)
        retry_after = getattr(exc, "retry_after", None)
        if exc.code == 429 and retry_after:
            error.headers["Retry-After"] = str(retry_after)
        response = error_response(error)
        valid_methods = getattr(exc, "valid_methods", None)
        if exc.code == 405 and valid_methods:
            response.headers["Allow"] = ", ".join(valid_methods)
        return response

    @app.errorhandler(Exception)
    def handle_unexpected(exc: Exception) -> Response:
        return error_response(unexpected_error(exc))
