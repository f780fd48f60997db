"""How the process logs: LOG_FORMAT=text (the default) or json, and request ids.

With LOG_FORMAT=json every line the process writes to its logs is one JSON
object: `time` (UTC, ISO 8601, milliseconds), `level`, `instance`,
`request_id` and `user_id` (null where unknown), `logger`, `event` (the
message) and, for an exception, `error` (its traceback). gunicorn's own lines
are JSON too (app/gunicorn_conf.py), its access log with `http` (method,
path, status, bytes, duration_ms) and the request id of the request.

The request id: nginx sends its `$request_id` as `X-Request-ID`; an instance
reached directly makes one up. Every response carries it back (beside
`X-Instance`, in app/__init__.py), and the lines logged while the request is
handled name it, so one request can be followed from nginx's access log to
the instance's. A Socket.IO event is logged with the id of its socket's
handshake request.

The standard library only at import time: gunicorn_conf.py imports this
before the worker monkey-patches.
"""

import datetime
import json
import logging
import re
import sys
import uuid
from typing import Any

REQUEST_ID_HEADER = "X-Request-ID"
_ENVIRON_KEY = "chat.request_id"
# What an id from outside may be (nginx's are 32 hex digits): anything else is
# replaced, so that a log line never carries a client's arbitrary text.
_VALID_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
TEXT_FORMAT = "%(asctime)s %(levelname)s [%(name)s] %(message)s"


def request_id(environ: dict[str, Any]) -> str:
    """The request's id: its X-Request-ID when well formed, else a new one;
    remembered in the WSGI environ, so every later call answers the same."""
    known = environ.get(_ENVIRON_KEY)
    if known is None:
        given = environ.get("HTTP_X_REQUEST_ID", "")
        known = given if _VALID_ID.fullmatch(given) else uuid.uuid4().hex
        environ[_ENVIRON_KEY] = known
    return known


def _request_context() -> tuple[str | None, int | None]:
    """(request id, user id) of the Flask request being handled, if any."""
    flask = sys.modules.get("flask")
    if flask is None or not flask.has_request_context():
        return None, None
    user = flask.g.get("user")
    return flask.request.environ.get(_ENVIRON_KEY), getattr(user, "id", None)


class JsonFormatter(logging.Formatter):
    """One JSON object a record (see the module's docstring)."""

    def __init__(self, instance: str) -> None:
        super().__init__()
        self.instance = instance

    def format(self, record: logging.LogRecord) -> str:
        rid, user_id = _request_context()
        line: dict[str, Any] = {
            "time": datetime.datetime.fromtimestamp(record.created, datetime.UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname.lower(),
            "instance": self.instance,
            "request_id": getattr(record, "request_id", None) or rid,
            "user_id": getattr(record, "user_id", None) or user_id,
            "logger": record.name,
            "event": record.getMessage(),
        }
        if record.name == "gunicorn.access" and isinstance(record.args, dict):
            atoms = record.args
            line["request_id"] = atoms.get("{x-request-id}o") or atoms.get("{x-request-id}i")
            line["http"] = {
                "method": atoms.get("m"),
                "path": atoms.get("U"),
                "status": _int(atoms.get("s")),
                "bytes": _int(atoms.get("B")),
                "duration_ms": _int(atoms.get("M")),
            }
        if record.exc_info:
            line["error"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def formatter(log_format: str, instance: str) -> logging.Formatter:
    """The formatter for LOG_FORMAT."""
    if log_format == "json":
        return JsonFormatter(instance)
    return logging.Formatter(TEXT_FORMAT)


def configure(level: str, log_format: str, instance: str) -> None:
    """The root logger at `level`, every handler of it writing `log_format`."""
    logging.basicConfig(level=level, format=TEXT_FORMAT)
    if log_format == "json":
        for handler in logging.getLogger().handlers:
            handler.setFormatter(JsonFormatter(instance))
        # Warnings (a deprecation at import, say) as log lines, not free text.
        logging.captureWarnings(True)
