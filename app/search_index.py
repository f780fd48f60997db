"""The full-text index on message bodies, and the match condition that uses it.

- PostgreSQL: `messages.search_vector`, a stored generated column
  `to_tsvector('english', body)` with a GIN index. Being generated, it changes
  in the same statement as the body, so an edit is found by its new words at
  once and a deleted message (body "") has no words at all. A query is parsed
  by `websearch_to_tsquery('english', q)`: words are stemmed and AND-ed,
  "quoted text" is a phrase, `or` between words is OR, `-word` excludes.
- SQLite (embedded mode): `messages_fts`, an FTS5 table over `messages.body`
  (external content, porter stemmer) kept in step by triggers. The same query
  syntax is translated to an FTS5 expression by `fts5_query`. Where the two
  differ is in docs/api.md ("Search").

Attachments are found by their file names too: PostgreSQL through a GIN
expression index on `files` (the name's words: every run of characters other
than letters and digits is a space, so `q3-report.pdf` is `q3 report pdf`),
SQLite through `files_fts`, an FTS5 table over `files.name` (its unicode61
tokenizer splits names at the same characters), kept by triggers likewise.
`matches` finds a message by its body or by a name of one of its files.

Neither can be declared portably as a SQLAlchemy model, so they are created
by the migration (0003) and, for databases built by `create_all` (the unit
tests), by the DDL events below; `include_in_autogenerate` keeps them out of
`flask db check`.
"""

import re
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy import ColumnElement, Connection, Table
from sqlalchemy.dialects import postgresql

TEXT_SEARCH_CONFIG = "english"
PG_COLUMN = "search_vector"
PG_INDEX = "ix_messages_search_vector"
FTS_TABLE = "messages_fts"
FILES_FTS_TABLE = "files_fts"
PG_FILES_INDEX = "ix_files_name_search"
# The words of a file name, as PostgreSQL indexes them (the same expression in
# the index and in the query, so that the index is used).
PG_NAME_WORDS = f"to_tsvector('{TEXT_SEARCH_CONFIG}'::regconfig, regexp_replace(name, '[^[:alnum:]]+', ' ', 'g'))"

POSTGRESQL_DDL = [
    f"ALTER TABLE messages ADD COLUMN {PG_COLUMN} tsvector GENERATED ALWAYS AS "
    f"(to_tsvector('{TEXT_SEARCH_CONFIG}'::regconfig, body)) STORED",
    f"CREATE INDEX {PG_INDEX} ON messages USING gin ({PG_COLUMN})",
]
SQLITE_DDL = [
    f"CREATE VIRTUAL TABLE {FTS_TABLE} USING fts5(body, content='messages', "
    "content_rowid='id', tokenize='porter unicode61')",
    f"CREATE TRIGGER {FTS_TABLE}_insert AFTER INSERT ON messages BEGIN "
    f"INSERT INTO {FTS_TABLE}(rowid, body) VALUES (new.id, new.body); END",
    f"CREATE TRIGGER {FTS_TABLE}_delete AFTER DELETE ON messages BEGIN "
    f"INSERT INTO {FTS_TABLE}({FTS_TABLE}, rowid, body) VALUES ('delete', old.id, old.body); "
    "END",
    f"CREATE TRIGGER {FTS_TABLE}_update AFTER UPDATE OF body ON messages BEGIN "
    f"INSERT INTO {FTS_TABLE}({FTS_TABLE}, rowid, body) VALUES ('delete', old.id, old.body); "
    f"INSERT INTO {FTS_TABLE}(rowid, body) VALUES (new.id, new.body); END",
]

POSTGRESQL_FILES_DDL = [f"CREATE INDEX {PG_FILES_INDEX} ON files USING gin (({PG_NAME_WORDS}))"]
SQLITE_FILES_DDL = [
    f"CREATE VIRTUAL TABLE {FILES_FTS_TABLE} USING fts5(name, content='files', "
    "content_rowid='id', tokenize='porter unicode61')",
    f"CREATE TRIGGER {FILES_FTS_TABLE}_insert AFTER INSERT ON files BEGIN "
    f"INSERT INTO {FILES_FTS_TABLE}(rowid, name) VALUES (new.id, new.name); END",
    f"CREATE TRIGGER {FILES_FTS_TABLE}_delete AFTER DELETE ON files BEGIN "
    f"INSERT INTO {FILES_FTS_TABLE}({FILES_FTS_TABLE}, rowid, name) "
    "VALUES ('delete', old.id, old.name); END",
    f"CREATE TRIGGER {FILES_FTS_TABLE}_update AFTER UPDATE OF name ON files BEGIN "
    f"INSERT INTO {FILES_FTS_TABLE}({FILES_FTS_TABLE}, rowid, name) "
    "VALUES ('delete', old.id, old.name); "
    f"INSERT INTO {FILES_FTS_TABLE}(rowid, name) VALUES (new.id, new.name); END",
]


def create_index(target: Table, connection: Connection, **kw: Any) -> None:
    """An `after_create` listener of the messages table (see app/models.py)."""
    statements = {"postgresql": POSTGRESQL_DDL, "sqlite": SQLITE_DDL}.get(
        connection.dialect.name, []
    )
    for statement in statements:
        connection.exec_driver_sql(statement)


def create_file_name_index(target: Table, connection: Connection, **kw: Any) -> None:
    """An `after_create` listener of the files table (see app/models.py)."""
    statements = {"postgresql": POSTGRESQL_FILES_DDL, "sqlite": SQLITE_FILES_DDL}.get(
        connection.dialect.name, []
    )
    for statement in statements:
        connection.exec_driver_sql(statement)


def is_index_table(name: str) -> bool:
    """True for the FTS5 tables and their shadow tables (messages_fts_data, ...)."""
    return any(name == t or name.startswith(t + "_") for t in (FTS_TABLE, FILES_FTS_TABLE))


def include_in_autogenerate(name: str, type_: str, parent_names: Mapping[str, Any]) -> bool:
    """Alembic `include_name`: the search index is not in the models, by design."""
    if type_ == "table":
        return not is_index_table(name)
    if type_ == "column":
        return name != PG_COLUMN
    if type_ == "index":
        return name not in (PG_INDEX, PG_FILES_INDEX)
    return True


# --- the match condition -------------------------------------------------------

# websearch_to_tsquery's syntax: "a phrase" (an unclosed quote runs to the end),
# the word `or`, a leading `-` to exclude, and plain words.
_TOKENS = re.compile(r'(-?)"([^"]*)"?|(-?)([^\s"]+)')
_WORD = re.compile(r"\w")
_PIECES = re.compile(r"\w+(?:-\w+)*")


def _fts5_string(text: str):
    return '"' + text.replace('"', '""') + '"'


def fts5_query(q: str) -> str | None:
    """The websearch query `q` as an FTS5 expression, or None if it can match nothing.

    Every word or phrase becomes an FTS5 string (tokenised and stemmed by the
    table's tokenizer; several words in one string are a phrase). Within an
    OR-group the included terms are AND-ed and each excluded term is a NOT;
    FTS5's NOT needs something on its left, so a group of only excluded terms
    is dropped (PostgreSQL would match every message without them).
    """
    groups: list[tuple[list[str], list[str]]] = []
    included: list[str] = []
    excluded: list[str] = []
    pending_or = False
    for phrase_minus, phrase, word_minus, word in _TOKENS.findall(q):
        if word and word.lower() == "or" and not word_minus:
            pending_or = bool(included or excluded)
            continue
        # A bare word holding punctuation is several words (col:near is col AND
        # near), as in PostgreSQL; hyphenated words stay together (a phrase).
        pieces = [phrase] if phrase else _PIECES.findall(word)
        pieces = [p for p in pieces if _WORD.search(p)]
        if not pieces:
            continue
        if pending_or:
            groups.append((included, excluded))
            included, excluded = [], []
            pending_or = False
        if phrase_minus or word_minus:
            excluded.append(_fts5_string(" ".join(pieces)))
        else:
            included.extend(_fts5_string(p) for p in pieces)
    groups.append((included, excluded))
    parts = []
    for inc, exc in groups:
        if not inc:
            continue
        expression = " AND ".join(inc) + "".join(f" NOT {term}" for term in exc)
        parts.append(f"({expression})" if len(groups) > 1 else expression)
    return " OR ".join(parts) or None


def matches(q: str, dialect_name: str) -> list[ColumnElement[bool]]:
    """WHERE conditions on messages for the query `q`, one for each way a message
    can match: its body, and the name of a file attached to it (none if nothing
    can match).

    The caller asks each separately, newest first with its own limit, and
    merges the pages: PostgreSQL then answers the body side as it would alone
    (the GIN index for a rare word; for a common word the primary key walked
    backwards, stopping at the page's last hit). One condition over both (an
    OR, or an IN over their UNION) made it read every hit of a common word."""
    files = sa.table("files", sa.column("id"), sa.column("message_id"))
    if dialect_name == "postgresql":
        query = sa.func.websearch_to_tsquery(sa.cast(TEXT_SEARCH_CONFIG, postgresql.REGCONFIG), q)
        vector = sa.literal_column(f"messages.{PG_COLUMN}", type_=postgresql.TSVECTOR)
        names = sa.literal_column(
            PG_NAME_WORDS.replace("(name,", "(files.name,"), type_=postgresql.TSVECTOR
        )
        by_body = vector.op("@@")(query)
        by_name = sa.select(files.c.message_id).where(
            files.c.message_id.is_not(None), names.op("@@")(query)
        )
    else:
        expression = fts5_query(q)
        if expression is None:
            return []
        fts = sa.table(FTS_TABLE, sa.column("rowid"))
        by_body = sa.literal_column("messages.id").in_(
            sa.select(fts.c.rowid).where(sa.literal_column(FTS_TABLE).op("MATCH")(expression))
        )
        files_fts = sa.table(FILES_FTS_TABLE, sa.column("rowid"))
        file_hits = sa.select(files_fts.c.rowid).where(
            sa.literal_column(FILES_FTS_TABLE).op("MATCH")(expression)
        )
        by_name = sa.select(files.c.message_id).where(
            files.c.message_id.is_not(None), files.c.id.in_(file_hits)
        )
    return [by_body, sa.literal_column("messages.id").in_(by_name)]
