"""ORM objects made and kept the cheap way on the send path.

detached() builds an instance as the ORM builds one it loads from a row (through
the class's instrumentation manager, `_sa_class_manager`, and the instance's
`__dict__`), instead of through the constructor's instrumented setters;
set_loaded() sets a relationship as if it had been loaded; commit_keeping_loaded()
commits without expiring what the session holds, so the broadcast and the
reply are shaped from the objects as they are instead of being read back.
"""

from typing import Any, TypeVar

from sqlalchemy.orm import Session, make_transient_to_detached
from sqlalchemy.orm.attributes import instance_dict, set_committed_value

T = TypeVar("T")


def detached(cls: type[T], values: dict[str, Any]) -> T:
    """An instance of the mapped class `cls` as if loaded from a row with these
    column values (its primary key among them), in no session."""
    obj = cls._sa_class_manager.new_instance()  # type: ignore[attr-defined]
    instance_dict(obj).update(values)
    make_transient_to_detached(obj)  # nothing to flush
    return obj


# set_loaded(obj, key, value): sets attribute `key` of `obj` as loaded from the
# database (nothing to flush). SQLAlchemy's own function, under the name the app uses.
set_loaded = set_committed_value


def commit_keeping_loaded(session: Session) -> None:
    """Commits `session` without expiring what it holds.

    The INSERT of a send sets every column of the new message, and its room and
    author are loaded already: the broadcast and the reply are shaped from them
    as they are instead of being read back after the commit, which would cost a
    pool checkout with its ping, a BEGIN, three SELECTs and a ROLLBACK per send."""
    previous = session.expire_on_commit
    session.expire_on_commit = False
    try:
        session.commit()
    finally:
        session.expire_on_commit = previous
