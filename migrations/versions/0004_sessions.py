"""Sessions that can end, and a record of what the seed has loaded.

Revision ID: 0004_sessions
Revises: 0003_reactions_mentions_search
Create Date: 2026-11-29

- users.token_generation: every token carries the generation it was issued
  under; a password change increments it, so every older token stops working
  on every instance (app/auth.py).
- seed_items: one row per seed item (user, room, membership, message) that
  `flask seed` has ever loaded, so that a later run never puts back what an
  operator deleted (app/cli.py).
"""

import sqlalchemy as sa
from alembic import op

revision = "0004_sessions"
down_revision = "0003_reactions_mentions_search"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("users") as batch:
        batch.add_column(
            sa.Column("token_generation", sa.Integer(), nullable=False, server_default="0")
        )
    op.create_table(
        "seed_items",
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("loaded_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_seed_items")),
    )


def downgrade():
    op.drop_table("seed_items")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("token_generation")
