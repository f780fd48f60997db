"""The one place events leave the server: the domain's announcements
(app/chat/notify.py) as Socket.IO emits. Called after a commit, never before."""

import logging
from collections.abc import Collection
from datetime import timedelta
from typing import Any

from app import chat
from app.chat import notify
from app.errors import ApiError
from app.library_hooks import ONCE_SECONDS, REDIS_ERRORS
from app.models import Message, Room, User, utcnow
from app.realtime import room_channel, user_channel
from app.realtime.presence import presence
from app.realtime.server import socketio
from app.schemas import author_schema, room_schema, shaped_message, thread_event_schema

log = logging.getLogger(__name__)

# A retried send broadcasts a message its first try did not only this soon
# after it was stored: well inside the time Redis keeps the record of a send.
REPEAT_WINDOW = timedelta(seconds=ONCE_SECONDS // 2)


def _sockets_of(user, channel):
    """The user's open sockets on every instance; none if Redis cannot say.

    Without Redis no event crosses instances anyway, and a membership change
    is in the database, so a later `join` follows it."""
    try:
        return presence.sids_of(user.id)
    except REDIS_ERRORS:
        log.warning("could not look up %s's sockets for %s", user.username, channel)
        return []


class SocketIOListener(notify.Listener):
    """Tells every socket in the room, on every instance (through the queue)."""

    def _emit_message(self, event, message):
        socketio.emit(event, shaped_message(message), to=room_channel(message.room.name))

    def message_created(
        self, message: Message, repeat: bool = False, shaped: dict[str, Any] | None = None
    ) -> bool:
        """With a queue that records what went out (the sharded Redis queue), a
        message goes out once whether or not its sender retried (emit_once): a
        retry sends it only if the instance that stored it died before sending
        it. Without one, a repeat sends nothing, as the contract puts it."""
        if shaped is None:
            shaped = shaped_message(message)
        emit_once = getattr(socketio.server.manager, "emit_once", None)
        if emit_once is None:
            if not repeat:
                socketio.emit("message", shaped, to=room_channel(message.room.name))
            return not repeat
        if repeat and utcnow() - message.created_at > REPEAT_WINDOW:
            return False  # its record may be gone: never send an old message twice
        return emit_once(
            f"message:{message.id}",
            "message",
            shaped,
            room=room_channel(message.room.name),
            first=not repeat,
        )

    def message_edited(self, message: Message) -> None:
        self._emit_message("message_edited", message)

    def message_deleted(self, message: Message) -> None:
        self._emit_message("message_deleted", message)

    def thread_changed(self, parent: Message) -> None:
        """The room hears a message's new thread size (on every instance)."""
        socketio.emit(
            "thread",
            thread_event_schema.dump(
                {"room": parent.room.name, "message_id": parent.id, "thread": parent.thread}
            ),
            to=room_channel(parent.room.name),
        )

    def settings_changed(self, room: Room, user: User) -> None:
        """Every socket of the user, on every instance, hears the room as they
        now see it (`room_updated`): their other tabs and devices follow."""
        socketio.emit(
            "room_updated", room_schema.dump(chat.room_view(user, room)), to=user_channel(user.id)
        )

    def read(self, room: Room, user: User, message_id: int) -> None:
        socketio.emit(
            "read",
            {"room": room.name, "username": user.username, "message_id": message_id},
            to=room_channel(room.name),
        )

    def typing(self, room: Room, user: User, typing: bool, origin: str | None = None) -> None:
        socketio.emit(
            "typing",
            {"room": room.name, "user": author_schema.dump(user), "typing": typing},
            to=room_channel(room.name),
            skip_sid=origin,
        )

    def member_added(self, room: Room, user: User) -> None:
        """Someone who became a member (a DM, a private room, a join on another tab)
        gets the room's live events at once, on every instance, without a `join`
        from each of their open sockets; then `room_added`, the room as they see
        it, to each of those sockets. The sockets enter first (through the same
        queue), so nothing sent to the room after `room_added` is missed."""
        channel = room_channel(room.name)
        for sid in _sockets_of(user, channel):
            socketio.server.enter_room(sid, channel, namespace="/")
        socketio.emit(
            "room_added", room_schema.dump(chat.room_view(user, room)), to=user_channel(user.id)
        )

    def member_left(self, room: Room, user: User) -> None:
        """A user who left a room stops getting its live events, on every instance,
        and each of their sockets hears `room_removed`."""
        self._take_out(room, user, {"room": room.name})

    def _take_out(self, room, user, removed):
        """The user's sockets leave the room's channel on every instance: for a
        socket elsewhere, the manager waits until its instance confirms
        (ShardedRedisManager.leave_room), so nothing emitted to the room after
        this returns reaches them; then `room_removed` to each of them."""
        channel = room_channel(room.name)
        for sid in _sockets_of(user, channel):
            socketio.server.leave_room(sid, channel, namespace="/")
        socketio.emit("room_removed", removed, to=user_channel(user.id))

    def member_removed(self, room: Room, user: User, reason: str) -> None:
        self._take_out(room, user, {"room": room.name, "reason": reason})
        socketio.emit(
            "member_removed",
            {"room": room.name, "username": user.username, "reason": reason},
            to=room_channel(room.name),
        )

    def room_updated(self, room: Room, user: User | None = None) -> None:
        if user is None:
            socketio.emit(
                "room_updated",
                room_schema.dump(chat.room_public_view(room)),
                to=room_channel(room.name),
            )
        else:
            socketio.emit(
                "room_updated",
                room_schema.dump(chat.room_view(user, room)),
                to=user_channel(user.id),
            )

    def pinned(self, message: Message) -> None:
        socketio.emit(
            "pinned",
            {"room": message.room.name, "message": shaped_message(message)},
            to=room_channel(message.room.name),
        )

    def sessions_ended(self, user: User, reason: str) -> None:
        """`session_ended` then a close, to each of the user's sockets on every
        instance (the periodic check in app/realtime/sessions.py would close them
        within SESSION_CHECK_SECONDS anyway)."""
        sids = _sockets_of(user, user_channel(user.id))
        socketio.emit("session_ended", {"reason": reason}, to=user_channel(user.id))
        for sid in sids:
            socketio.server.disconnect(sid, namespace="/")

    def mentioned(self, user: User, message: Message, shaped: dict[str, Any] | None = None) -> None:
        """To every socket of the user, whether or not it has joined the room."""
        socketio.emit(
            "mention",
            {
                "room": message.room.name,
                "message": shaped_message(message) if shaped is None else shaped,
            },
            to=user_channel(user.id),
        )

    def reactions_changed(self, message: Message) -> None:
        socketio.emit(
            "reaction",
            {
                "room": message.room.name,
                "message_id": message.id,
                "reactions": message.reaction_list,
            },
            to=room_channel(message.room.name),
        )

    def online_user_ids(self, user_ids: Collection[int]) -> set[int]:
        try:
            return presence.online_user_ids(user_ids)
        except REDIS_ERRORS:
            raise ApiError(
                "unavailable",
                "Presence is unavailable right now; try again shortly.",
                headers={"Retry-After": "2"},
            ) from None
