"""Rooms run by their own people: roles, topics, bans, invites, pins, the audit
log, bots, webhooks and site admins.

Revision ID: 0007_communities
Revises: 0004_sessions
Create Date: 2026-12-06

- memberships.role: owner, admin or member. Every existing room other than a
  DM gets an owner: its earliest member (ties: the lowest user id).
- rooms.topic; messages.deleted_by ("author" or "moderator") and
  messages.pinned_at.
- users.bot, users.owner_id (a bot's owner), users.site_admin,
  users.deactivated_at.
- bans, invites, audit_entries, webhooks.
"""

import sqlalchemy as sa
from alembic import op

revision = "0007_communities"
# Only this line changes if the revisions before it are re-chained.
down_revision = "0006_threads_mute"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Timestamp = sa.DateTime(timezone=True)

# The earliest member of each room that is not a DM becomes its owner.
OWNERS = """
UPDATE memberships SET role = 'owner'
WHERE (room_id, user_id) IN (
    SELECT m.room_id, m.user_id FROM memberships m JOIN rooms r ON r.id = m.room_id
    WHERE r.kind != 'dm' AND NOT EXISTS (
        SELECT 1 FROM memberships e
        WHERE e.room_id = m.room_id
          AND (e.joined_at < m.joined_at OR (e.joined_at = m.joined_at AND e.user_id < m.user_id))
    )
)
"""


def upgrade():
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("bot", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch.add_column(sa.Column("owner_id", BigId, nullable=True))
        batch.add_column(
            sa.Column("site_admin", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch.add_column(sa.Column("deactivated_at", Timestamp, nullable=True))
        batch.create_index(batch.f("ix_users_owner_id"), ["owner_id"], unique=False)
        batch.create_foreign_key(
            batch.f("fk_users_owner_id_users"), "users", ["owner_id"], ["id"], ondelete="CASCADE"
        )
    with op.batch_alter_table("rooms") as batch:
        batch.add_column(
            sa.Column("topic", sa.String(length=250), nullable=False, server_default="")
        )
    with op.batch_alter_table("memberships") as batch:
        batch.add_column(
            sa.Column("role", sa.String(length=8), nullable=False, server_default="member")
        )
    # Plain ALTER TABLE ... ADD COLUMN on every backend: SQLite's search triggers
    # on messages survive (a batch table copy would drop them).
    op.add_column("messages", sa.Column("deleted_by", sa.String(length=16), nullable=True))
    op.add_column("messages", sa.Column("pinned_at", Timestamp, nullable=True))
    op.execute(OWNERS)

    op.create_table(
        "bans",
        sa.Column("room_id", BigId, nullable=False),
        sa.Column("user_id", BigId, nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.ForeignKeyConstraint(
            ["room_id"], ["rooms.id"], name=op.f("fk_bans_room_id_rooms"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_bans_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("room_id", "user_id", name=op.f("pk_bans")),
    )
    op.create_index(op.f("ix_bans_user_id"), "bans", ["user_id"], unique=False)
    op.create_table(
        "invites",
        sa.Column("id", BigId, nullable=False),
        sa.Column("room_id", BigId, nullable=False),
        sa.Column("token", sa.String(length=64), nullable=False),
        sa.Column("created_by_id", BigId, nullable=True),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.Column("expires_at", Timestamp, nullable=False),
        sa.Column("max_uses", sa.Integer(), nullable=True),
        sa.Column("uses", sa.Integer(), nullable=False, server_default="0"),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["users.id"],
            name=op.f("fk_invites_created_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["room_id"], ["rooms.id"], name=op.f("fk_invites_room_id_rooms"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invites")),
        sa.UniqueConstraint("token", name=op.f("uq_invites_token")),
    )
    op.create_index(op.f("ix_invites_room_id"), "invites", ["room_id"], unique=False)
    op.create_table(
        "audit_entries",
        sa.Column("id", BigId, nullable=False),
        sa.Column("room_id", BigId, nullable=False),
        sa.Column("at", Timestamp, nullable=False),
        sa.Column("actor_id", BigId, nullable=True),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("target", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(
            ["actor_id"],
            ["users.id"],
            name=op.f("fk_audit_entries_actor_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["room_id"],
            ["rooms.id"],
            name=op.f("fk_audit_entries_room_id_rooms"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_entries")),
    )
    op.create_index("ix_audit_entries_room_id_id", "audit_entries", ["room_id", "id"], unique=False)
    op.create_table(
        "webhooks",
        sa.Column("id", BigId, nullable=False),
        sa.Column("room_id", BigId, nullable=False),
        sa.Column("bot_id", BigId, nullable=False),
        sa.Column("secret_hash", sa.String(length=64), nullable=False),
        sa.Column("created_by_id", BigId, nullable=True),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.ForeignKeyConstraint(
            ["bot_id"], ["users.id"], name=op.f("fk_webhooks_bot_id_users"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["users.id"],
            name=op.f("fk_webhooks_created_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["room_id"], ["rooms.id"], name=op.f("fk_webhooks_room_id_rooms"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhooks")),
        sa.UniqueConstraint("secret_hash", name=op.f("uq_webhooks_secret_hash")),
    )
    op.create_index(op.f("ix_webhooks_bot_id"), "webhooks", ["bot_id"], unique=False)
    op.create_index(op.f("ix_webhooks_room_id"), "webhooks", ["room_id"], unique=False)


def downgrade():
    op.drop_table("webhooks")
    op.drop_table("audit_entries")
    op.drop_table("invites")
    op.drop_table("bans")
    op.drop_column("messages", "pinned_at")
    op.drop_column("messages", "deleted_by")
    with op.batch_alter_table("memberships") as batch:
        batch.drop_column("role")
    with op.batch_alter_table("rooms") as batch:
        batch.drop_column("topic")
    with op.batch_alter_table("users") as batch:
        batch.drop_constraint(batch.f("fk_users_owner_id_users"), type_="foreignkey")
        batch.drop_index(batch.f("ix_users_owner_id"))
        batch.drop_column("deactivated_at")
        batch.drop_column("site_admin")
        batch.drop_column("owner_id")
        batch.drop_column("bot")
