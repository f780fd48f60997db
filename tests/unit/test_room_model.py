"""The Room and Membership models."""

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import Membership, Room, User


@pytest.fixture
def ctx(app):
    with app.app_context():
        yield
        db.session.rollback()


@pytest.mark.parametrize("kind, private", [("public", False), ("private", True), ("dm", True)])
def test_only_public_rooms_are_not_private(ctx, kind, private):
    assert Room(name="r", kind=kind).private is private


def test_room_repr_names_the_room_and_kind(ctx):
    assert repr(Room(name="lounge", kind="public")) == "<Room lounge (public)>"


def test_a_new_room_defaults_to_public_with_an_empty_title(ctx):
    room = Room(name="lounge")
    db.session.add(room)
    db.session.commit()
    assert (room.kind, room.title) == ("public", "")


def test_deleting_a_room_deletes_its_memberships(ctx):
    user = User(username="alice", display_name="Alice", password_hash="x")
    room = Room(name="lounge")
    db.session.add_all([user, room])
    db.session.flush()
    room.memberships.append(Membership(user_id=user.id))
    db.session.commit()
    db.session.delete(room)
    db.session.commit()
    assert db.session.scalar(select(func.count()).select_from(Membership)) == 0


def test_membership_repr_names_user_and_room(ctx):
    assert repr(Membership(user_id=2, room_id=3)) == "<Membership user=2 room=3>"
