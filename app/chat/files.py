"""Uploaded files: storing them, attaching them to messages, who reads them, and
their removal.

Rules here: an upload is 1 byte to MAX_UPLOAD_BYTES (a setting, 10 MiB), what a
user keeps in all is at most USER_QUOTA_BYTES (1 GiB; both 413
payload_too_large past that), uploads are counted by the per-user `upload`
limit (app/ratelimit.py); the content type is what the bytes are
(app/chat/images.py), the name is the client's, reduced to a safe display name.
A message carries at most MAX_ATTACHMENTS of its author's uploads not yet
attached. A file is read by the members of the room whose message carries it,
and before that by its uploader only; anyone else gets 404, as if it did not
exist. Deleting a message deletes its files; an upload never attached is
removed after UNATTACHED_TTL (`flask files cleanup`, and in passing, at most
every CLEANUP_EVERY seconds per process, on an upload).
"""

import io
import logging
import re
import time
import unicodedata
from collections.abc import Iterable, Sequence
from datetime import timedelta
from typing import BinaryIO

from flask import current_app
from sqlalchemy import and_, delete, func, select, update

from app import offload
from app.chat import images
from app.errors import ApiError, validation_error
from app.extensions import db
from app.file_storage import ORIGINAL, THUMBNAIL, storage
from app.library_hooks import set_loaded
from app.models import Membership, Message, StoredFile, User, utcnow
from app.ratelimit import check_allowed

log = logging.getLogger(__name__)

MAX_ATTACHMENTS = 10
NAME_MAX = 255
UNATTACHED_TTL = timedelta(hours=24)
CLEANUP_EVERY = 600.0
_last_cleanup = 0.0

_UNSAFE_NAME = re.compile(r"[\x00-\x1f\x7f/\\\\]")


def safe_name(name: str | None) -> str:
    """The client's file name as a display name: its last path component, no control
    characters or slashes, NFC, at most NAME_MAX characters (keeping the extension)."""
    name = unicodedata.normalize("NFC", name or "")
    name = re.split(r"[/\\\\]", name)[-1]
    name = _UNSAFE_NAME.sub("", name).strip().strip(".") or "file"
    name = name.encode("utf-8", "ignore").decode("utf-8")
    if len(name) > NAME_MAX:
        stem, dot, extension = name.rpartition(".")
        if dot and 0 < len(extension) <= 16:
            name = stem[: NAME_MAX - len(extension) - 1] + "." + extension
        else:
            name = name[:NAME_MAX]
    return name


def _too_large(what: str) -> ApiError:
    return ApiError("payload_too_large", what)


def upload(user: User, name: str | None, stream: BinaryIO) -> StoredFile:
    """Stores a file of the user's (the stream's bytes from its start), not attached yet."""
    check_allowed("upload", user.id)
    limit = current_app.config["MAX_UPLOAD_BYTES"]
    stream.seek(0, 2)
    size = stream.tell()
    if size > limit:
        raise _too_large(f"A file may be at most {limit} bytes.")
    if size == 0:
        raise validation_error({"file": ["The file is empty."]})
    stream.seek(0)
    content_type = images.sniff(stream.read(images.SNIFF_BYTES))
    facts = None
    if images.is_image_type(content_type):
        try:
            # Decoding is CPU work: a real thread, the event loop keeps serving.
            facts = offload.run(images.inspect, stream, content_type)
        except images.ImageRefused as exc:
            raise validation_error({"file": [str(exc)]}) from None
        if facts is None:  # not decodable after all: a plain download
            content_type = images.OCTET_STREAM
    quota = current_app.config["USER_QUOTA_BYTES"]
    # One user's uploads serialise on the user's row, so two at once cannot
    # both squeeze under the quota.
    db.session.execute(select(User.id).where(User.id == user.id).with_for_update())
    used = (
        db.session.scalar(select(func.sum(StoredFile.size)).where(StoredFile.owner_id == user.id))
        or 0
    )
    if used + size > quota:
        db.session.rollback()
        raise _too_large(f"Your files would take {used + size} bytes; at most {quota} are allowed.")
    stored = StoredFile(
        owner_id=user.id,
        name=safe_name(name),
        content_type=content_type,
        size=size,
        width=facts.width if facts else None,
        height=facts.height if facts else None,
        thumbnail_size=len(facts.thumbnail) if facts else None,
        created_at=utcnow(),
    )
    db.session.add(stored)
    db.session.flush()
    stream.seek(0)
    storage.write(stored.id, ORIGINAL, stream)
    if facts is not None:
        storage.write(stored.id, THUMBNAIL, io.BytesIO(facts.thumbnail))
    db.session.commit()
    maybe_clean_up()
    return stored


def attach(user: User, message_id: int, file_ids: Sequence[int]) -> list[StoredFile]:
    """Attaches the user's unattached uploads to a message being sent, in the
    caller's transaction (one UPDATE ... RETURNING); a validation_error if any is
    not one of them (the caller's transaction must then be rolled back)."""
    wanted = list(dict.fromkeys(file_ids))
    if len(wanted) > MAX_ATTACHMENTS:
        raise validation_error({"attachments": [f"At most {MAX_ATTACHMENTS} files."]})
    attached = list(
        db.session.scalars(
            update(StoredFile)
            .where(
                StoredFile.id.in_(wanted),
                StoredFile.owner_id == user.id,
                StoredFile.message_id.is_(None),
            )
            .values(message_id=message_id)
            .returning(StoredFile)
            .execution_options(synchronize_session=False)
        )
    )
    if len(attached) != len(wanted):
        missing = sorted(set(wanted) - {f.id for f in attached})
        raise validation_error(
            {
                "attachments": [
                    f"Not an upload of yours that is not attached yet: {', '.join(map(str, missing))}."
                ]
            }
        )
    attached.sort(key=lambda f: f.id)
    return attached


def preload(messages: Iterable[Message]) -> None:
    """Loads the attachments of every message of a page that has any, in one query
    (none at all when no message of the page has attachments)."""
    carrying = {m.id: m for m in messages if m.attachment_count and m.deleted_at is None}
    if not carrying:
        return
    found: dict[int, list[StoredFile]] = {message_id: [] for message_id in carrying}
    for stored in db.session.scalars(
        select(StoredFile).where(StoredFile.message_id.in_(carrying)).order_by(StoredFile.id)
    ):
        found[stored.message_id].append(stored)  # type: ignore[index]
    for message_id, files in found.items():
        set_loaded(carrying[message_id], "attachments", files)


def readable_file(user: User, file_id: int) -> StoredFile:
    """The file if the user may read it (a member of the room of its message, or its
    uploader before it is attached); 404 otherwise."""
    row = db.session.execute(
        select(StoredFile, Membership.user_id)
        .outerjoin(Message, Message.id == StoredFile.message_id)
        .outerjoin(
            Membership,
            and_(Membership.room_id == Message.room_id, Membership.user_id == user.id),
        )
        .where(StoredFile.id == file_id)
    ).first()
    if row is not None:
        stored, member = row
        if stored.message_id is None and stored.owner_id == user.id:
            return stored
        if stored.message_id is not None and member is not None:
            return stored
    raise ApiError("not_found", f"No file {file_id}.")


def delete_files_of(message_id: int) -> None:
    """Every file of a message, in the caller's transaction."""
    ids = list(db.session.scalars(select(StoredFile.id).where(StoredFile.message_id == message_id)))
    _delete(ids)


def _delete(ids: list[int]) -> None:
    if ids:
        storage.delete(ids)
        db.session.execute(
            delete(StoredFile)
            .where(StoredFile.id.in_(ids))
            .execution_options(synchronize_session=False)
        )


def clean_up(older_than: timedelta = UNATTACHED_TTL) -> int:
    """Removes the uploads never attached that are older than `older_than`; how many."""
    cutoff = utcnow() - older_than
    ids = list(
        db.session.scalars(
            select(StoredFile.id).where(
                StoredFile.message_id.is_(None), StoredFile.created_at < cutoff
            )
        )
    )
    _delete(ids)
    db.session.commit()
    return len(ids)


def maybe_clean_up() -> None:
    """clean_up(), at most every CLEANUP_EVERY seconds in this process; a failure is
    logged, never the caller's."""
    global _last_cleanup
    now = time.monotonic()
    if now - _last_cleanup < CLEANUP_EVERY:
        return
    _last_cleanup = now
    try:
        removed = clean_up()
        if removed:
            log.info("removed %d uploads never attached", removed)
    except Exception:
        db.session.rollback()
        log.exception("cleaning up unattached uploads failed")
