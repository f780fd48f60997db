"""Uploaded files and their bytes, attachments on messages, file names in search.

Revision ID: 0005_files
Revises: 0004_sessions
Create Date: 2026-12-06

- files: one row per upload (owner, name, the sniffed content type, size, an
  image's width, height and thumbnail size, the message it is attached to,
  NULL until then); file_chunks: its bytes and its thumbnail's, in pieces of
  at most 256 KiB (app/file_storage.py).
- messages.attachment_count: how many files a message carries, so that a
  message without any never looks for them.
- the search index on file names (see app/search_index.py, whose DDL is
  repeated here so that the migration never imports application code).
"""

import sqlalchemy as sa
from alembic import op

revision = "0005_files"
down_revision = "0004_sessions"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Timestamp = sa.DateTime(timezone=True)

NAME_WORDS = "to_tsvector('english'::regconfig, regexp_replace(name, '[^[:alnum:]]+', ' ', 'g'))"
POSTGRESQL_UP = [f"CREATE INDEX ix_files_name_search ON files USING gin (({NAME_WORDS}))"]
POSTGRESQL_DOWN = ["DROP INDEX ix_files_name_search"]
SQLITE_UP = [
    "CREATE VIRTUAL TABLE files_fts USING fts5(name, content='files', "
    "content_rowid='id', tokenize='porter unicode61')",
    "CREATE TRIGGER files_fts_insert AFTER INSERT ON files BEGIN "
    "INSERT INTO files_fts(rowid, name) VALUES (new.id, new.name); END",
    "CREATE TRIGGER files_fts_delete AFTER DELETE ON files BEGIN "
    "INSERT INTO files_fts(files_fts, rowid, name) VALUES ('delete', old.id, old.name); END",
    "CREATE TRIGGER files_fts_update AFTER UPDATE OF name ON files BEGIN "
    "INSERT INTO files_fts(files_fts, rowid, name) VALUES ('delete', old.id, old.name); "
    "INSERT INTO files_fts(rowid, name) VALUES (new.id, new.name); END",
]
SQLITE_DOWN = [
    "DROP TRIGGER files_fts_update",
    "DROP TRIGGER files_fts_delete",
    "DROP TRIGGER files_fts_insert",
    "DROP TABLE files_fts",
]


def _run(statements):
    for statement in statements.get(op.get_bind().dialect.name, []):
        op.execute(statement)


def upgrade():
    with op.batch_alter_table("messages") as batch:
        batch.add_column(
            sa.Column("attachment_count", sa.Integer(), nullable=False, server_default="0")
        )
    op.create_table(
        "files",
        sa.Column("id", BigId, nullable=False),
        sa.Column("owner_id", BigId, nullable=False),
        sa.Column("message_id", BigId, nullable=True),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("content_type", sa.String(length=100), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("width", sa.Integer(), nullable=True),
        sa.Column("height", sa.Integer(), nullable=True),
        sa.Column("thumbnail_size", sa.Integer(), nullable=True),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["messages.id"],
            name=op.f("fk_files_message_id_messages"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["users.id"], name=op.f("fk_files_owner_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_files")),
    )
    op.create_index(op.f("ix_files_owner_id"), "files", ["owner_id"], unique=False)
    op.create_index(
        "ix_files_message_id_created_at", "files", ["message_id", "created_at"], unique=False
    )
    op.create_table(
        "file_chunks",
        sa.Column("file_id", BigId, nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["file_id"], ["files.id"], name=op.f("fk_file_chunks_file_id_files"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("file_id", "kind", "seq", name=op.f("pk_file_chunks")),
    )
    _run({"postgresql": POSTGRESQL_UP, "sqlite": SQLITE_UP})


def downgrade():
    _run({"postgresql": POSTGRESQL_DOWN, "sqlite": SQLITE_DOWN})
    op.drop_table("file_chunks")
    op.drop_index("ix_files_message_id_created_at", table_name="files")
    op.drop_index(op.f("ix_files_owner_id"), table_name="files")
    op.drop_table("files")
    # Not a batch: on SQLite that copies the table, dropping its search triggers.
    op.execute("ALTER TABLE messages DROP COLUMN attachment_count")
