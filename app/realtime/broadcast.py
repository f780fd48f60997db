"""The one place events leave the server. Called after a commit, never before."""
import logging

from redis.exceptions import RedisError

from app.extensions import socketio
from app.realtime import room_channel
from app.realtime.presence import presence
from app.schemas import message_schema

log = logging.getLogger(__name__)


def _author(user):
    return {"username": user.username, "display_name": user.display_name}


def message_payload(message):
    return message_schema.dump(message)


def message_created(message):
    socketio.emit("message", message_payload(message), to=room_channel(message.room))


def message_edited(message):
    socketio.emit("message_edited", message_payload(message), to=room_channel(message.room))


def message_deleted(message):
    socketio.emit("message_deleted", message_payload(message), to=room_channel(message.room))


def read(room, user, message_id):
    socketio.emit("read", {"room": room.name, "username": user.username,
                           "message_id": message_id}, to=room_channel(room))


def typing(room, user, is_typing, skip_sid=None):
    socketio.emit("typing", {"room": room.name, "user": _author(user), "typing": is_typing},
                  to=room_channel(room), skip_sid=skip_sid)


def presence_changed(room_names, user, online):
    for name in room_names:
        socketio.emit("presence", {"room": name, "user": _author(user), "online": online},
                      to=f"room:{name}")


def _sockets_of(user, channel):
    """The user's open sockets on every instance; none if Redis cannot say.

    Without Redis no event crosses instances anyway, and a membership change
    is in the database, so a later `join` follows it."""
    try:
        return presence.sids_of(user.id)
    except RedisError:
        log.warning("could not look up %s's sockets for %s", user.username, channel)
        return []


def member_added(room, user):
    """Someone added to a room (a DM, a private room) gets its live events at once,
    on every instance, without a `join` from each of their open sockets."""
    channel = room_channel(room)
    for sid in _sockets_of(user, channel):
        socketio.server.enter_room(sid, channel, namespace="/")


def member_left(room, user):
    """A user who left a room stops getting its live events, on every instance."""
    channel = room_channel(room)
    for sid in _sockets_of(user, channel):
        socketio.server.leave_room(sid, channel, namespace="/")
