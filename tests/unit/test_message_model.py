"""The Message model."""

import pytest
from sqlalchemy.exc import IntegrityError

from app.extensions import db
from app.models import Message, Room, User, utcnow


@pytest.fixture
def room_and_author(app):
    with app.app_context():
        author = User(username="alice", display_name="Alice", password_hash="x")
        room = Room(name="lounge")
        db.session.add_all([author, room])
        db.session.commit()
        yield room, author
        db.session.rollback()


def add_message(room, author, client_id=None):
    message = Message(room_id=room.id, author_id=author.id, body="hi", client_id=client_id)
    db.session.add(message)
    db.session.commit()
    return message


def test_a_message_is_deleted_once_deleted_at_is_set(room_and_author):
    message = add_message(*room_and_author)
    assert message.deleted is False
    message.deleted_at = utcnow()
    assert message.deleted is True


def test_message_repr_names_id_and_room(room_and_author):
    message = add_message(*room_and_author)
    assert repr(message) == f"<Message {message.id} in room {message.room_id}>"


def test_one_client_id_per_author_per_room(room_and_author):
    add_message(*room_and_author, client_id="c1")
    with pytest.raises(IntegrityError):
        add_message(*room_and_author, client_id="c1")


def test_messages_without_client_id_do_not_collide(room_and_author):
    first = add_message(*room_and_author)
    second = add_message(*room_and_author)
    assert first.id != second.id


def test_message_ids_grow(room_and_author):
    ids = [add_message(*room_and_author).id for _ in range(3)]
    assert ids == sorted(ids)
