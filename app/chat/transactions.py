"""Transaction helpers the domain modules share: a row with a unique name added
under races."""

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
