"""Where the bytes of uploaded files live, behind one small interface.

`FileStorage` is all the rest of the app knows: write a file's bytes (or its
thumbnail's) from a stream, read them back as a stream of pieces, delete
them. `DatabaseStorage`, the one implementation, keeps them in the database
the deployment already has (PostgreSQL, or SQLite in embedded mode), in the
`file_chunks` table, in pieces of at most CHUNK_BYTES:

- every instance reads what any instance wrote, with no shared volume and no
  other service to run, back up or secure;
- a file and its message commit, and are deleted, in the same transaction as
  the rows that name them, so there are never orphaned bytes or dangling links;
- writing reads the upload a piece at a time, and reading fetches one piece per
  short query on a connection taken from the pool and given back at once, so
  neither holds a whole file in memory, and a slow download never holds a
  database connection between pieces.

An object store (S3 and the like) would be another implementation of the same
four methods.
"""

from collections.abc import Iterator
from typing import BinaryIO, Protocol

from sqlalchemy import bindparam, delete, insert, select

from app.extensions import db
from app.models import FileChunk

CHUNK_BYTES = 256 * 1024
ORIGINAL = "original"
THUMBNAIL = "thumbnail"


_PIECE = select(FileChunk.data).where(
    FileChunk.file_id == bindparam("file_id"),
    FileChunk.kind == bindparam("kind"),
    FileChunk.seq == bindparam("seq"),
)


class FileStorage(Protocol):
    def write(self, file_id: int, kind: str, stream: BinaryIO) -> int:
        """Stores the stream's bytes from where it stands to its end; returns how many.
        Runs in the caller's transaction (db.session)."""
        ...

    def read(self, file_id: int, kind: str) -> Iterator[bytes]:
        """The stored bytes, a piece at a time."""
        ...

    def delete(self, file_ids: list[int]) -> None:
        """Every piece of these files, in the caller's transaction."""
        ...


class DatabaseStorage:
    """The bytes in `file_chunks` rows of the app's own database."""

    def write(self, file_id: int, kind: str, stream: BinaryIO) -> int:
        size = 0
        seq = 0
        while True:
            piece = stream.read(CHUNK_BYTES)
            if not piece:
                return size
            db.session.execute(
                insert(FileChunk), {"file_id": file_id, "kind": kind, "seq": seq, "data": piece}
            )
            size += len(piece)
            seq += 1

    def read(self, file_id: int, kind: str) -> Iterator[bytes]:
        seq = 0
        while True:
            # One short read per piece: the connection goes back to the pool
            # while the client takes the piece.
            with db.engine.connect() as connection:
                piece = connection.execute(
                    _PIECE, {"file_id": file_id, "kind": kind, "seq": seq}
                ).scalar()
            if piece is None:
                return
            yield bytes(piece)
            seq += 1

    def delete(self, file_ids: list[int]) -> None:
        if file_ids:
            db.session.execute(delete(FileChunk).where(FileChunk.file_id.in_(file_ids)))


storage: FileStorage = DatabaseStorage()
