"""Session rules shared by the domain modules: unique rows."""

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
