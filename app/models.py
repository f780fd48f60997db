"""SQLAlchemy models: users, rooms, memberships, messages, and the seed's record."""
from datetime import datetime, timezone

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship
from sqlalchemy.types import DateTime, TypeDecorator

from app.extensions import db

# SQLite only autoincrements INTEGER PRIMARY KEY; PostgreSQL gets a bigint.
BigId = BigInteger().with_variant(Integer(), "sqlite")


def utcnow():
    return datetime.now(timezone.utc)


class UTCDateTime(TypeDecorator):
    """A timezone-aware UTC datetime on every backend (SQLite forgets the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime given; use a timezone-aware UTC datetime")
        return value

    def process_result_value(self, value, dialect):
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        return value


class User(db.Model):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    username: Mapped[str] = mapped_column(String(32), unique=True)
    display_name: Mapped[str] = mapped_column(String(64))
    password_hash: Mapped[str] = mapped_column(String(256))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Tokens carry the generation they were issued under; a password change
    # increments it, which ends every older token (app/auth.py).
    token_generation: Mapped[int] = mapped_column(Integer, default=0, server_default="0")

    def __repr__(self):
        return f"<User {self.username}>"


class Room(db.Model):
    __tablename__ = "rooms"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(80), unique=True)
    title: Mapped[str] = mapped_column(String(120), default="")
    kind: Mapped[str] = mapped_column(String(16), default="public", index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    memberships: Mapped[list["Membership"]] = relationship(
        back_populates="room", cascade="all, delete-orphan")

    @property
    def private(self):
        return self.kind != "public"

    def __repr__(self):
        return f"<Room {self.name} ({self.kind})>"


class Membership(db.Model):
    __tablename__ = "memberships"

    room_id: Mapped[int] = mapped_column(
        ForeignKey("rooms.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True)
    joined_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_read_id: Mapped[int | None] = mapped_column(BigId, nullable=True)

    room: Mapped[Room] = relationship(back_populates="memberships")
    user: Mapped[User] = relationship()

    def __repr__(self):
        return f"<Membership user={self.user_id} room={self.room_id}>"


class Message(db.Model):
    __tablename__ = "messages"
    __table_args__ = (
        # Idempotent sends: one client_id per author per room.
        UniqueConstraint("room_id", "author_id", "client_id"),
        # History pages: WHERE room_id = ? AND id < ? ORDER BY id DESC LIMIT ?
        Index("ix_messages_room_id_id", "room_id", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    room_id: Mapped[int] = mapped_column(ForeignKey("rooms.id", ondelete="CASCADE"))
    author_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    body: Mapped[str] = mapped_column(Text)
    client_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    edited_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    room: Mapped[Room] = relationship()
    author: Mapped[User] = relationship()

    @property
    def deleted(self):
        return self.deleted_at is not None

    def __repr__(self):
        return f"<Message {self.id} in room {self.room_id}>"


class SeedItem(db.Model):
    """A seed item `flask seed` has loaded once (user/alice, membership/general/bob ...):
    a later run skips it, so what an operator deleted stays deleted."""

    __tablename__ = "seed_items"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    loaded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    def __repr__(self):
        return f"<SeedItem {self.key}>"
