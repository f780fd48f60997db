"""Where the database stands against the code's migrations, and the guard that
refuses API work while it is at a revision this code does not know.

Below the realtime layer and the blueprints, which both ask it (a Socket.IO
connect is refused like a request); app/health.py reports it at /readyz."""

import functools
import os
import time

from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask import Flask, current_app, request
from sqlalchemy.engine import Engine

from app.errors import ApiError
from app.extensions import db

MIGRATIONS_DIR = os.path.join(os.path.dirname(os.path.dirname(__file__)), "migrations")


@functools.cache
def code_heads() -> frozenset[str]:
    """The head revisions of migrations/ (what this code expects)."""
    return frozenset(ScriptDirectory(MIGRATIONS_DIR).get_heads())


@functools.cache
def known_revisions() -> frozenset[str]:
    return frozenset(s.revision for s in ScriptDirectory(MIGRATIONS_DIR).walk_revisions())


def schema_status(engine: Engine | None = None) -> tuple[str, str]:
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

    def refusal(self) -> ApiError | None:
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

    def forget(self) -> None:
        """Look again at the next request (tests)."""
        current_app.extensions.pop(self.KEY, None)

    def init_app(self, app: Flask) -> None:
        @app.before_request
        def refuse_api_work_when_behind_the_schema() -> None:
            if request.path.startswith("/api/"):
                refusal = self.refusal()
                if refusal is not None:
                    raise refusal


schema_guard = SchemaGuard()
