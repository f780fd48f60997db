"""A pooled connection is checked on checkout without a round trip to the database.

SQLAlchemy's pool_pre_ping sends a `SELECT 1` on every checkout, one round trip
per request or socket event (docs/performance.md). Instead, this looks at the
connection's socket: a server that restarted, shut down or ended the session
has closed it (or left its goodbye message in it), which a non-blocking peek
sees; the pool then drops that connection and opens another. A connection lost
without a word from the server (a cut network) is found by the statement that
uses it: that request fails with 503 `unavailable` (app/errors.py) and the pool
starts over, as a failed ping would have made it.
"""

from typing import Any

from sqlalchemy import Engine, event
from sqlalchemy.exc import DisconnectionError

from app import library_hooks


def server_has_hung_up(dbapi_connection: Any) -> bool:
    """True if the server closed this idle connection or wrote to it unasked."""
    if getattr(dbapi_connection, "closed", 0):
        return True
    fileno = getattr(dbapi_connection, "fileno", None)
    if fileno is None:  # SQLite: no socket
        return False
    # The end of the connection or a message: either way it is done. Nothing to
    # read: alive as far as anyone can tell.
    return library_hooks.has_input(fileno())


def _on_checkout(dbapi_connection: Any, connection_record: Any, connection_proxy: Any):
    if server_has_hung_up(dbapi_connection):
        # The pool discards this connection and checks out (or opens) another.
        raise DisconnectionError("the database server closed this connection")


def init_engine(engine: Engine) -> None:
    event.listen(engine, "checkout", _on_checkout)
