"""The User model."""

from datetime import UTC, datetime

import pytest
from sqlalchemy.exc import IntegrityError, StatementError

from app.extensions import db
from app.models import User


@pytest.fixture
def ctx(app):
    with app.app_context():
        yield
        db.session.rollback()


def make_user(username="alice"):
    user = User(username=username, display_name=username.title(), password_hash="x")
    db.session.add(user)
    db.session.commit()
    return user


def test_user_repr_names_the_user(ctx):
    assert repr(make_user()) == "<User alice>"


def test_created_at_is_set_and_utc(ctx):
    user = make_user()
    db.session.expire_all()
    created = db.session.get(User, user.id).created_at
    assert created.tzinfo is not None
    assert created.utcoffset().total_seconds() == 0


def test_usernames_are_unique(ctx):
    make_user()
    with pytest.raises(IntegrityError):
        make_user()


def test_naive_datetimes_are_refused(ctx):
    db.session.add(
        User(username="alice", display_name="A", password_hash="x", created_at=datetime(2026, 1, 1))
    )
    with pytest.raises(StatementError, match="naive datetime"):
        db.session.commit()


def test_aware_datetimes_are_stored_as_given(ctx):
    moment = datetime(2026, 1, 1, 12, 30, tzinfo=UTC)
    user = User(username="alice", display_name="A", password_hash="x", created_at=moment)
    db.session.add(user)
    db.session.commit()
    db.session.expire_all()
    assert db.session.get(User, user.id).created_at == moment
