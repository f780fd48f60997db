"""Emitting to the chat's sockets from a process that is not an instance: a
Celery task, a cron script, an admin shell.

    from app.external_emitter import emitter

    chat = emitter("redis://redis:6379/0")  # the instances' REDIS_URL
    chat.emit("announcement", {"text": "Maintenance at 22:00"})  # every socket
    chat.emit("announcement", {"text": "Welcome"}, room="general")  # a chat room's
    chat.emit("announcement", {"text": "Your export is ready"}, user=42)  # a user's

The event goes through the message queue the instances read, so it reaches
their sockets wherever they are connected: in the default sharded mode on
one Redis server or a Redis Cluster (a `redis+cluster://` URL), and in the
classic mode (`queue_mode="classic"`, or QUEUE_MODE in the environment).
`room` is a chat room's name: the event reaches the sockets that have joined
the room; `user` is a user id: it reaches every socket of that user, joined
or not. An emit is published once; it is not stored, so a socket that is not
connected at that moment never gets it. If Redis cannot be reached, the emit
is lost and logged (logger `app.library_hooks`).

This module loads no Flask app and none of the app's settings: it needs only
the Redis URL (and the queue mode, if not the default).

Flask-SocketIO's write-only `SocketIO(message_queue=...)` does not reach the
sharded queue's instances (its messages go on one channel the sharded queue
does not read); with QUEUE_MODE=classic it works, given
`channel="chat-socketio"`, the classic queue's channel.
"""

import os
from typing import Any

from app import library_hooks
from app.realtime import room_channel, user_channel


class ExternalEmitter:
    """Emits Socket.IO events to the instances' sockets through the message queue."""

    def __init__(self, redis_url: str, queue_mode: str = "sharded") -> None:
        if not redis_url:
            raise ValueError("an external emitter needs the instances' REDIS_URL")
        if queue_mode not in ("sharded", "classic"):
            raise ValueError(f"queue_mode must be sharded or classic, not {queue_mode!r}")
        self.manager = library_hooks.queue_manager(redis_url, queue_mode, write_only=True)

    def emit(
        self, event: str, data: Any = None, room: str | None = None, user: int | None = None
    ) -> None:
        """Sends `event` with `data` (anything JSON can carry) to the sockets of chat
        room `room`, to every socket of user `user`, or, with neither, to every socket."""
        if room is not None and user is not None:
            raise ValueError("emit to a room or to a user, not both")
        if room is not None:
            to = room_channel(room)
        elif user is not None:
            to = user_channel(user)
        else:
            to = None
        self.manager.emit(event, data, namespace="/", room=to)


def emitter(redis_url: str, queue_mode: str | None = None) -> ExternalEmitter:
    """An ExternalEmitter on the instances' message queue; queue_mode defaults to
    QUEUE_MODE from the environment, else `sharded` (as the instances')."""
    return ExternalEmitter(redis_url, queue_mode or os.environ.get("QUEUE_MODE") or "sharded")
