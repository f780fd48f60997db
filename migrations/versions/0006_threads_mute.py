"""Replies and threads, and per-room mute.

Revision ID: 0006_threads_mute
Revises: 0004_sessions
Create Date: 2026-12-06

- messages.reply_to_id: the message of the same room a message replies to
  (app/chat/threads.py checks the room). A deleted message keeps its row, so
  a parent is never gone while its replies stay (messages go only with their
  room, replies and parents together).
- messages.reply_count and messages.last_reply_at: kept on the parent by the
  sends and deletes of its replies, so a page shows each thread's size without
  counting.
- ix_messages_reply_to_id_id: a thread's pages.
- memberships.muted: a member's own setting for the room.

Plain ADD COLUMNs (no batch copy of the table): on SQLite a copy of
`messages` would drop the full-text index's triggers.
"""

import sqlalchemy as sa
from alembic import op

revision = "0006_threads_mute"
# Only this line changes if the revisions before it are re-chained.
down_revision = "0005_files"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _sqlite_columns_kept():
    """True on SQLite when an earlier downgrade kept the messages columns."""
    columns = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("messages")}
    return "reply_to_id" in columns


def upgrade():
    if op.get_bind().dialect.name == "sqlite":
        if not _sqlite_columns_kept():
            # SQLite takes a REFERENCES clause in ADD COLUMN, not an added constraint.
            op.execute(
                "ALTER TABLE messages ADD COLUMN reply_to_id INTEGER REFERENCES messages (id)"
            )
            _add_thread_columns()
    else:
        op.add_column("messages", sa.Column("reply_to_id", BigId, nullable=True))
        op.create_foreign_key(
            op.f("fk_messages_reply_to_id_messages"),
            "messages",
            "messages",
            ["reply_to_id"],
            ["id"],
        )
        _add_thread_columns()
    op.create_index(
        op.f("ix_messages_reply_to_id_id"), "messages", ["reply_to_id", "id"], unique=False
    )
    op.add_column(
        "memberships",
        sa.Column("muted", sa.Boolean(), nullable=False, server_default=sa.false()),
    )


def _add_thread_columns():
    op.add_column(
        "messages", sa.Column("reply_count", sa.Integer(), nullable=False, server_default="0")
    )
    op.add_column("messages", sa.Column("last_reply_at", sa.DateTime(timezone=True), nullable=True))


def downgrade():
    with op.batch_alter_table("memberships") as batch:
        batch.drop_column("muted")
    op.drop_index(op.f("ix_messages_reply_to_id_id"), table_name="messages")
    if op.get_bind().dialect.name == "sqlite":
        # SQLite cannot drop a column a foreign key names, and a batch copy of
        # the table would drop the search triggers: on SQLite the three columns
        # stay, unused, and a later upgrade finds them there.
        return
    op.drop_constraint(op.f("fk_messages_reply_to_id_messages"), "messages", type_="foreignkey")
    op.drop_column("messages", "last_reply_at")
    op.drop_column("messages", "reply_count")
    op.drop_column("messages", "reply_to_id")
