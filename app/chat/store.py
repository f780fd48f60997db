"""Session rules shared by the domain modules: unique rows, and commits that keep
what the session holds."""
from sqlalchemy.exc import IntegrityError

from app.errors import ApiError
from app.extensions import db


def add_unique(obj, taken, conflict_message):
    """Adds and commits a row with a unique name, or raises conflict (also on a race)."""
    if db.session.scalar(taken) is not None:
        raise ApiError("conflict", conflict_message)
    db.session.add(obj)
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise ApiError("conflict", conflict_message) from None
    return obj


def read_outside_transaction(statement, params=None):
    """The rows of one read-only statement, sent alone: on PostgreSQL, on a pooled
    connection switched to autocommit for it, so no BEGIN goes before it and no
    ROLLBACK after it, where the request's session would have sent both (one
    round trip instead of three; docs/performance.md, change 13). For a read
    that needs to agree with nothing else the caller reads or writes.

    psycopg2's autocommit flag is the client's alone (setting it sends nothing),
    and a connection with no transaction open is rolled back by the pool without
    a word to the server. SQLAlchemy's own AUTOCOMMIT isolation level would send
    a SET to reset the connection when it goes back to the pool."""
    params = params or {}
    if db.engine.dialect.driver != "psycopg2":
        return db.session.execute(statement, params).all()
    with db.engine.connect() as connection:
        raw = connection.connection.dbapi_connection
        raw.autocommit = True
        try:
            return connection.execute(statement, params).all()
        finally:
            if not raw.closed:  # a connection lost in the statement stays as it is
                raw.autocommit = False


def commit_keeping_loaded():
    """Commit without expiring what the session holds.

    The INSERT sets every column of the new message and its room and author are
    loaded already, so the broadcast and the reply are shaped from them as they
    are instead of being read back after the commit: per send, that saves a
    pool checkout with its ping, a BEGIN, three SELECTs and a ROLLBACK
    (docs/performance.md).
    """
    session = db.session()
    previous = session.expire_on_commit
    session.expire_on_commit = False
    try:
        session.commit()
    finally:
        session.expire_on_commit = previous
