"""Transaction helpers the domain modules share: a row with a unique name added
under races, and a commit that keeps what the database session has loaded."""

from typing import TypeVar

from sqlalchemy import Select
from sqlalchemy.exc import IntegrityError

from app.errors import ApiError
from app.extensions import db

T = TypeVar("T")


def add_unique(obj: T, taken: Select, conflict_message: str) -> T:
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


def commit_keeping_loaded() -> None:
    """Commit without expiring what the session holds.

    The INSERT sets every column of the new message and its room and author are
    loaded already, so the broadcast and the reply are shaped from them as they
    are instead of being read back after the commit: per send, that saves a
    pool checkout with its ping, a BEGIN, three SELECTs and a ROLLBACK.
    """
    session = db.session()
    previous = session.expire_on_commit
    session.expire_on_commit = False
    try:
        session.commit()
    finally:
        session.expire_on_commit = previous
