"""Liveness and readiness (/healthz, /readyz)."""

from typing import Any

from flask import Blueprint, Response, current_app, jsonify

from app.extensions import db
from app.realtime.presence import presence
from app.schema_state import (  # noqa: F401  (app.health.schema_guard, code_heads...)
    MIGRATIONS_DIR,
    code_heads,
    schema_guard,
    schema_status,
)

bp = Blueprint("health", __name__)


def _check_database():
    state, detail = schema_status()
    return state == "at_head", detail


def _check_message_queue():
    if not current_app.config.get("REDIS_URL"):
        return True, "in-process (no REDIS_URL)"
    presence.ping()
    return True, "redis reachable"


@bp.get("/healthz")
def healthz() -> dict[str, str]:
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
def readyz() -> Response | dict[str, Any]:
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
