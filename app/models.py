"""SQLAlchemy models: users, rooms, memberships, messages, reactions, mentions, uploaded
files and their bytes, and the seed's record.

The full-text index on messages is not declared here (no portable declaration
exists for a PostgreSQL tsvector column or a SQLite FTS5 table): see
app/search_index.py.
"""

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    event,
    false,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Mapped, mapped_column, relationship
from sqlalchemy.types import DateTime, TypeDecorator

from app import search_index
from app.extensions import Base, db
from app.library_hooks import detached as detached  # built as if loaded: app.models.detached

# mypy cannot see through Flask-SQLAlchemy's db.Model: the models derive from it
# at run time and are typed as the declarative base it wraps.
if TYPE_CHECKING:
    Model = Base
else:
    Model = db.Model

# SQLite only autoincrements INTEGER PRIMARY KEY; PostgreSQL gets a bigint.
BigId = BigInteger().with_variant(Integer(), "sqlite")


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator):
    """A timezone-aware UTC datetime on every backend (SQLite forgets the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime given; use a timezone-aware UTC datetime")
        return value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value


class User(Model):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    username: Mapped[str] = mapped_column(String(32), unique=True)
    display_name: Mapped[str] = mapped_column(String(64))
    password_hash: Mapped[str] = mapped_column(String(256))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Tokens carry the generation they were issued under; a password change
    # increments it, which ends every older token (app/auth.py).
    token_generation: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # A bot logs in only with its API token; owner_id is the user who made it.
    bot: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    owner_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), nullable=True, index=True
    )
    # A site admin reads every room's audit log (`flask users promote`).
    site_admin: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # A deactivated user (or a deleted bot) cannot log in; its tokens are ended.
    deactivated_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    def __repr__(self):
        return f"<User {self.username}>"


class Room(Model):
    __tablename__ = "rooms"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(80), unique=True)
    title: Mapped[str] = mapped_column(String(120), default="")
    kind: Mapped[str] = mapped_column(String(16), default="public", index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    topic: Mapped[str] = mapped_column(String(250), default="", server_default="")

    memberships: Mapped[list["Membership"]] = relationship(
        back_populates="room", cascade="all, delete-orphan"
    )

    @property
    def private(self) -> bool:
        return self.kind != "public"

    def __repr__(self):
        return f"<Room {self.name} ({self.kind})>"


class Membership(Model):
    __tablename__ = "memberships"

    room_id: Mapped[int] = mapped_column(
        ForeignKey("rooms.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    joined_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_read_id: Mapped[int | None] = mapped_column(BigId, nullable=True)
    # A muted room raises no notifications for this user (the page decides).
    muted: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # owner, admin or member (app/chat/moderation.py); one owner per room, none in a DM.
    role: Mapped[str] = mapped_column(String(8), default="member", server_default="member")

    room: Mapped[Room] = relationship(back_populates="memberships")
    user: Mapped[User] = relationship()

    def __repr__(self):
        return f"<Membership user={self.user_id} room={self.room_id}>"


class Message(Model):
    __tablename__ = "messages"
    __table_args__ = (
        # Idempotent sends: one client_id per author per room.
        UniqueConstraint("room_id", "author_id", "client_id"),
        # History pages: WHERE room_id = ? AND id < ? ORDER BY id DESC LIMIT ?
        Index("ix_messages_room_id_id", "room_id", "id"),
        # A thread's page: WHERE reply_to_id = ? AND id > ? ORDER BY id LIMIT ?
        Index("ix_messages_reply_to_id_id", "reply_to_id", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    room_id: Mapped[int] = mapped_column(ForeignKey("rooms.id", ondelete="CASCADE"))
    author_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    body: Mapped[str] = mapped_column(Text)
    client_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    edited_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # The message of the same room this one replies to (app/chat/threads.py).
    reply_to_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id"), nullable=True)
    # Kept on the parent by the sends and deletes of its replies: the undeleted
    # replies and the newest one's time (None without any).
    reply_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    last_reply_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # How many files are attached: a message with none (most) never looks for
    # them, so neither a send nor a page of history pays for attachments it
    # does not have (app/chat/files.py loads a page's in one query).
    attachment_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # "author" or "moderator" once deleted.
    deleted_by: Mapped[str | None] = mapped_column(String(16), nullable=True)
    # Pinned by an owner or admin: columns of the row, so a page reads no more.
    pinned_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    room: Mapped[Room] = relationship()
    author: Mapped[User] = relationship()
    # The parent of a reply, loaded for a whole page in one query ("selectin";
    # none at all when no message of the page is a reply).
    reply_parent: Mapped["Message | None"] = relationship(
        remote_side=[id], lazy="selectin", foreign_keys=[reply_to_id]
    )
    # Loaded for a whole page of messages in one query each ("selectin"); a new
    # message starts with empty lists, so a send loads nothing.
    reactions: Mapped[list["Reaction"]] = relationship(
        order_by="Reaction.id", lazy="selectin", cascade="all, delete-orphan", passive_deletes=True
    )
    mentions: Mapped[list["Mention"]] = relationship(
        order_by="Mention.position",
        lazy="selectin",
        cascade="all, delete-orphan",
        passive_deletes=True,
    )

    # Read only through attachment_list (never for a message without any).
    attachments: Mapped[list["StoredFile"]] = relationship(order_by="StoredFile.id", viewonly=True)

    @property
    def deleted(self) -> bool:
        return self.deleted_at is not None

    @property
    def thread(self) -> dict[str, Any] | None:
        """{"replies", "last_reply_at"} for a message with replies, else None."""
        if not self.reply_count:
            return None
        return {"replies": self.reply_count, "last_reply_at": self.last_reply_at}

    @property
    def attachment_list(self) -> list["StoredFile"]:
        if not self.attachment_count or self.deleted_at is not None:
            return []
        return self.attachments

    @property
    def pinned(self) -> bool:
        return self.pinned_at is not None

    @property
    def mentioned_usernames(self) -> list[str]:
        """In the order the body names them."""
        return [mention.user.username for mention in self.mentions]

    @property
    def reaction_list(self) -> list[dict[str, Any]]:
        """[{"emoji", "usernames"}] in the order each emoji was first used."""
        groups: dict[str, list[str]] = {}
        for reaction in self.reactions:  # ordered by id: the order of use
            groups.setdefault(reaction.emoji, []).append(reaction.user.username)
        return [{"emoji": emoji, "usernames": names} for emoji, names in groups.items()]

    def __repr__(self):
        return f"<Message {self.id} in room {self.room_id}>"


# The full-text index comes with the table, whoever creates it (create_all).
event.listen(Message.__table__, "after_create", search_index.create_index)


class Reaction(Model):
    """One user's use of one emoji on one message."""

    __tablename__ = "reactions"
    __table_args__ = (UniqueConstraint("message_id", "user_id", "emoji"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    emoji: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    user: Mapped[User] = relationship(lazy="joined")

    def __repr__(self):
        return f"<Reaction {self.emoji} by {self.user_id} on {self.message_id}>"


class Mention(Model):
    """A message naming a user (as @username) who may read its room."""

    __tablename__ = "mentions"
    __table_args__ = (
        # Unread mentions: WHERE user_id = ? AND message_id > ?
        Index("ix_mentions_user_id_message_id", "user_id", "message_id"),
    )

    message_id: Mapped[int] = mapped_column(
        ForeignKey("messages.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    # Where the body first names the user, counting mentions: 0, 1, ...
    position: Mapped[int] = mapped_column(Integer, default=0)

    user: Mapped[User] = relationship(lazy="joined")

    def __repr__(self):
        return f"<Mention of {self.user_id} in {self.message_id}>"


class StoredFile(Model):
    """An uploaded file: who uploaded it, what its bytes are (sniffed), and the
    message it is attached to (none yet: only its owner reads it). The bytes are
    in file_chunks (app/file_storage.py)."""

    __tablename__ = "files"
    __table_args__ = (
        # The cleanup of uploads never attached: WHERE message_id IS NULL AND created_at < ?
        Index("ix_files_message_id_created_at", "message_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    message_id: Mapped[int | None] = mapped_column(
        ForeignKey("messages.id", ondelete="CASCADE"), nullable=True
    )
    name: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(BigInteger)
    width: Mapped[int | None] = mapped_column(Integer, nullable=True)
    height: Mapped[int | None] = mapped_column(Integer, nullable=True)
    thumbnail_size: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    @property
    def is_image(self) -> bool:
        return self.thumbnail_size is not None

    def __repr__(self):
        return f"<StoredFile {self.id} {self.content_type} {self.size}>"


# The search index on file names comes with the table, as the messages' does.
event.listen(StoredFile.__table__, "after_create", search_index.create_file_name_index)


class FileChunk(Model):
    """A piece of a file's bytes (`kind` "original" or "thumbnail"), in order of `seq`."""

    __tablename__ = "file_chunks"

    file_id: Mapped[int] = mapped_column(
        ForeignKey("files.id", ondelete="CASCADE"), primary_key=True
    )
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    data: Mapped[bytes] = mapped_column(LargeBinary)

    def __repr__(self):
        return f"<FileChunk {self.file_id}/{self.kind}/{self.seq}>"


class Ban(Model):
    """A user banned from a room: not a member, and cannot join or be added."""

    __tablename__ = "bans"

    room_id: Mapped[int] = mapped_column(
        ForeignKey("rooms.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    user: Mapped[User] = relationship(lazy="joined")


class Invite(Model):
    """A link that makes whoever accepts it a member of a private room."""

    __tablename__ = "invites"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    room_id: Mapped[int] = mapped_column(ForeignKey("rooms.id", ondelete="CASCADE"), index=True)
    token: Mapped[str] = mapped_column(String(64), unique=True)
    created_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), nullable=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    max_uses: Mapped[int | None] = mapped_column(Integer, nullable=True)
    uses: Mapped[int] = mapped_column(Integer, default=0, server_default="0")

    room: Mapped[Room] = relationship()


class AuditEntry(Model):
    """What an owner or admin did in a room, written in the same transaction."""

    __tablename__ = "audit_entries"
    __table_args__ = (Index("ix_audit_entries_room_id_id", "room_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    room_id: Mapped[int] = mapped_column(ForeignKey("rooms.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    actor_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), nullable=True
    )
    action: Mapped[str] = mapped_column(String(32))
    target: Mapped[str] = mapped_column(String(200), default="")

    actor: Mapped[User | None] = relationship(lazy="joined")


class Webhook(Model):
    """An incoming webhook: POST /hooks/<secret> posts into the room as the bot.
    Only the secret's SHA-256 is stored."""

    __tablename__ = "webhooks"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    room_id: Mapped[int] = mapped_column(ForeignKey("rooms.id", ondelete="CASCADE"), index=True)
    bot_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), nullable=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    room: Mapped[Room] = relationship()
    bot: Mapped[User] = relationship(foreign_keys=[bot_id], lazy="joined")


class SeedItem(Model):
    """A seed item `flask seed` has loaded once (user/alice, membership/general/bob ...):
    a later run skips it, so what an operator deleted stays deleted."""

    __tablename__ = "seed_items"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    loaded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    def __repr__(self):
        return f"<SeedItem {self.key}>"
