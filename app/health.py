"""Liveness, readiness, and where the database stands against the code's migrations."""

import functools
import os
import time

from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask import Blueprint, current_app, jsonify, request

from app.errors import ApiError
from app.extensions import db
from app.realtime.presence import presence

bp = Blueprint("health", __name__)

MIGRATIONS_DIR = os.path.join(os.path.dirname(os.path.dirname(__file__)), "migrations")


@functools.cache
def code_heads():
    """The head revisions of migrations/ (what this code expects)."""
    return frozenset(ScriptDirectory(MIGRATIONS_DIR).get_heads())


@functools.cache
def known_revisions():
    return frozenset(s.revision for s in ScriptDirectory(MIGRATIONS_DIR).walk_revisions())


def schema_status(engine=None):
    """(state, detail): state is at_head, empty, behind or unknown."""
    engine = engine or db.engine
    with engine.connect() as connection:
        current = set(MigrationContext.configure(connection).get_current_heads())
    heads = code_heads()
    if current == heads:
        return "at_head", f"at {', '.join(sorted(heads))}"
    if not current:
        return "empty", "no migration has run yet"
    unknown = current - known_revisions()
    if unknown:
        return "unknown", (
            f"the database is at revision {', '.join(sorted(unknown))}, which this code does "
            f"not know (its head is {', '.join(sorted(heads))}); it was probably migrated by "
            "newer code. Deploy that code, or downgrade the database."
        )
    return "behind", f"at {', '.join(sorted(current))}, the code expects {', '.join(sorted(heads))}"


class SchemaGuard:
    """Refuses API work (503 unavailable) while the database is at a revision this
    code does not know: the code is behind the schema, and a request it served
    could read or write the tables wrongly. nginx then tries the next instance
    (proxy_next_upstream http_503). The state is looked up at most every
    SCHEMA_CHECK_SECONDS per app, so it costs nothing per request."""

    KEY = "chat.schema_guard"

    def refusal(self):
        """An ApiError(unavailable) while the code is behind the schema, else None."""
        state = current_app.extensions.setdefault(self.KEY, {"checked_at": None, "problem": None})
        now = time.monotonic()
        interval = current_app.config["SCHEMA_CHECK_SECONDS"]
        if state["checked_at"] is None or now - state["checked_at"] >= interval:
            # Claimed before looking: the requests and connects that arrive while
            # this one waits on the database go on with what is known. (Every one
            # of them used to run its own check when the interval ran out: under
            # load, dozens of checks at once every SCHEMA_CHECK_SECONDS, each with
            # a database connection of its own.)
            state["checked_at"] = now
            try:
                status, detail = schema_status()
            except Exception:  # the database is down: the request will say so itself
                db.session.rollback()
                return None
            state["problem"] = detail if status == "unknown" else None
        if state["problem"] is None:
            return None
        return ApiError(
            "unavailable",
            "This instance runs code older than the database's "
            "schema; try again (another instance will answer).",
            headers={"Retry-After": "1"},
        )

    def forget(self):
        """Look again at the next request (tests)."""
        current_app.extensions.pop(self.KEY, None)

    def init_app(self, app):
        @app.before_request
        def refuse_api_work_when_behind_the_schema():
            if request.path.startswith("/api/"):
                refusal = self.refusal()
                if refusal is not None:
                    raise refusal


schema_guard = SchemaGuard()


def _check_database():
    state, detail = schema_status()
    return state == "at_head", detail


def _check_message_queue():
    if not current_app.config.get("REDIS_URL"):
        return True, "in-process (no REDIS_URL)"
    presence.ping()
    return True, "redis reachable"


@bp.get("/healthz")
def healthz():
    """200 while the process runs."""
    return {"status": "ok", "instance": current_app.config["INSTANCE_ID"]}


def _run_checks():
    checks = {}
    for name, check in (("database", _check_database), ("message_queue", _check_message_queue)):
        try:
            ok, detail = check()
        except Exception as exc:  # the check failed: report it, never a 500
            ok, detail = False, f"unreachable: {exc.__class__.__name__}"
        checks[name] = {"ok": ok, "detail": detail}
    return checks


def readiness_checks() -> dict[str, bool]:
    """{check: passed} for /metrics (what /readyz checks)."""
    checks = _run_checks()
    if not all(c["ok"] for c in checks.values()):
        db.session.rollback()
    return {name: c["ok"] for name, c in checks.items()}


@bp.get("/readyz")
def readyz():
    """200 when the database is at the code's head and the message queue answers."""
    if current_app.config.get("DRAINING"):
        response = jsonify(
            {
                "status": "draining",
                "checks": {},
                "error": {"code": "unavailable", "message": "This instance is shutting down."},
            }
        )
        response.status_code = 503
        return response
    checks = _run_checks()
    ready = all(c["ok"] for c in checks.values())
    if ready:
        return {"status": "ready", "checks": checks}
    db.session.rollback()
    response = jsonify(
        {
            "status": "unavailable",
            "checks": checks,
            "error": {
                "code": "unavailable",
                "message": "Not ready: "
                + "; ".join(f"{k}: {v['detail']}" for k, v in checks.items() if not v["ok"]),
            },
        }
    )
    response.status_code = 503
    return response
