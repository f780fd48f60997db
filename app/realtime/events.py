"""Socket.IO event handlers (default namespace).

Each handler authenticates the socket's user, validates the payload with the
same schema REST uses, calls app.chat, and acknowledges with
{"ok": true, ...} or the contract's error shape.
"""

import functools
import logging
from collections.abc import Callable
from typing import Any

from flask import current_app, request, session
from flask_socketio import ConnectionRefusedError, join_room, leave_room
from marshmallow import Schema

from app import chat, metrics
from app.auth import SESSION_ENDED_MESSAGES, authenticate
from app.errors import ApiError, unexpected_error
from app.extensions import db
from app.library_hooks import tell_if_not_live
from app.models import User
from app.ratelimit import LIMITED_SOCKET_EVENTS, check_allowed
from app.realtime import gate, room_channel, sessions, user_channel
from app.realtime.lifecycle import start_heartbeat
from app.realtime.presence import announce, presence
from app.realtime.server import socketio
from app.schema_state import schema_guard
from app.schemas import (
    ReactEventSchema,
    ReadEventSchema,
    RoomRefSchema,
    SendEventSchema,
    SyncEventSchema,
    TypingEventSchema,
    load_or_raise,
    message_schema,
    room_schema,
    shaped_message,
)
from app.user_cache import users

log = logging.getLogger(__name__)


def _error_ack(exc):
    if isinstance(exc, ApiError):
        db.session.rollback()
        return exc.to_dict()
    return unexpected_error(exc).to_dict()


def _current_user():
    """The socket's user while its token's session lasts; otherwise the socket is
    told `session_ended` and closed, and the event answered `unauthorized`."""
    claims = session["claims"]
    user = users().user(session.get("user_id"), claims.generation)
    problem = sessions.problem_for_event(user, claims)
    if problem:
        sessions.end_socket(request.sid, problem)
        raise ApiError("unauthorized", SESSION_ENDED_MESSAGES[problem])
    return user


# An event's handler: (the user, the validated payload) -> the ack's fields or None.
Handler = Callable[[User, Any], dict[str, Any] | None]


def event(name: str, schema: Schema | None = None) -> Callable[[Handler], Callable[..., Any]]:
    """Registers `on_<name>`: validates the payload, passes the user, shapes the ack."""

    def decorator(handler: Handler) -> Callable[..., Any]:
        @socketio.on(name)
        @functools.wraps(handler)
        def wrapper(payload: Any = None, *extra: Any) -> dict[str, Any]:
            with gate.turn():
                if _socket_gone():  # closed while it waited: nobody to answer
                    metrics.SOCKET_EVENTS.labels(name, "error").inc()
                    return ApiError("unavailable", "The connection closed.").to_dict()
                try:
                    user = _current_user()
                    if name in LIMITED_SOCKET_EVENTS:
                        check_allowed("socket_event", user.id, scope=name)
                    data = load_or_raise(schema, payload) if schema is not None else None
                    result = handler(user, data) or {}
                    metrics.SOCKET_EVENTS.labels(name, "ok").inc()
                    return {"ok": True, **result}
                except Exception as exc:  # every failure becomes an error ack
                    metrics.SOCKET_EVENTS.labels(name, "error").inc()
                    return _error_ack(exc)

        return wrapper

    return decorator


def _reserved_name_sent_as_event():
    """True when a client emitted an event named connect or disconnect.

    python-socketio hands such an event to the lifecycle handler, which would
    let a client mark itself offline or swap its socket's user. A real
    connect or disconnect runs while the socket is pending (not yet, or no
    longer, connected); an emitted event only ever comes from a connected one."""
    return socketio.server.manager.is_connected(request.sid, request.namespace or "/")


def _reserved_event_ack(name):
    metrics.SOCKET_EVENTS.labels("unknown", "error").inc()
    return ApiError("bad_request", f"Unknown event {name!r}.").to_dict()


@socketio.on("connect")
def on_connect(auth: Any = None) -> Any:
    """A client connects with {"token": ...} as auth (or ?token=)."""
    if _reserved_name_sent_as_event():
        return _reserved_event_ack("connect")
    with gate.turn(connect=True):
        if _socket_gone():  # closed while it waited for its turn
            return False
        _connect(auth)
        if _socket_gone():  # closed while connecting: no disconnect will follow
            _forget_socket(session["user_id"])
            return False
        return None


def _socket_gone() -> bool:
    """True once the client's connection has closed (its Engine.IO session is
    over): a handler that waited for its turn has nobody to answer, and a
    connect that finished after it would leave a socket nothing ever closes."""
    server = socketio.server
    eio_sid = server.manager.eio_sid_from_sid(request.sid, request.namespace or "/")  # type: ignore[attr-defined]
    return eio_sid is None or eio_sid not in server.environ


def _connect(auth: Any) -> None:
    token = auth.get("token") if isinstance(auth, dict) else None
    token = token or request.args.get("token")
    try:
        refusal = schema_guard.refusal()
        if refusal is not None:
            raise refusal
        user, claims = authenticate(token)
        check_allowed("connect", user.id)
    except ApiError as exc:
        raise ConnectionRefusedError(exc.message, exc.to_dict()) from None
    session["user_id"] = user.id
    session["claims"] = claims
    sessions.track(request.sid, user.id, claims)  # type: ignore[attr-defined]
    join_room(user_channel(user.id))
    tell_if_not_live(socketio.server.manager, request.sid)  # type: ignore[attr-defined]
    start_heartbeat(current_app._get_current_object())  # type: ignore[attr-defined]
    metrics.SOCKETS.inc()
    try:
        if presence.connect(request.sid, user.id):  # type: ignore[attr-defined]
            announce(user, True)
    except Exception:  # presence is a hint; a Redis outage must not refuse sockets
        log.exception("presence update on connect failed")


@socketio.on("disconnect")
def on_disconnect(*reason: Any) -> Any:
    """A client's socket closed (or timed out)."""
    if _reserved_name_sent_as_event():
        return _reserved_event_ack("disconnect")
    user_id = session.get("user_id")
    if user_id is not None:
        _forget_socket(user_id)


def _forget_socket(user_id: int) -> None:
    """Undoes what a connect recorded: the session's socket, the gauge, presence."""
    sessions.forget(request.sid)  # type: ignore[attr-defined]
    metrics.SOCKETS.dec()
    try:
        if presence.disconnect(request.sid, user_id):  # type: ignore[attr-defined]
            user = users().user(user_id, 0)  # for its name: any generation will do
            if user is not None:
                announce(user, False)
    except Exception:
        log.exception("presence update on disconnect failed")


@event("join", RoomRefSchema())
def on_join(user: User, data: dict[str, Any]) -> dict[str, Any]:
    """A client starts receiving a room's live events (joining a public room if needed)."""
    room = chat.join_room(user, data["room"])
    # Enter the channel first, then check: a leave committed in between removes
    # the socket from the channel (or is seen here); checking first could miss it.
    # The room's view, read now, is the check: none when not a member.
    channel = room_channel(room.name)
    join_room(channel)
    view = chat.member_view(user, room)
    if view is None:
        leave_room(channel)
        raise ApiError("forbidden", f"Join {room.name!r} first.")
    return {"room": room_schema.dump(view)}


@event("leave", RoomRefSchema())
def on_leave(user: User, data: dict[str, Any]) -> None:
    """A client stops receiving a room's live events; the membership stays."""
    leave_room(room_channel(data["room"]))


@event("send", SendEventSchema())
def on_send(user: User, data: dict[str, Any]) -> dict[str, Any]:
    """A client sends a message; it is stored, then broadcast, then acknowledged."""
    _, _, shaped = chat.send_message(
        user,
        data["room"],
        data["body"] or "",
        data.get("client_id"),
        shape=shaped_message,
        reply_to=data.get("reply_to"),
        attachments=data.get("attachments"),
    )
    return {"message": shaped}


@event("typing", TypingEventSchema())
def on_typing(user: User, data: dict[str, Any]) -> None:
    """A client starts or stops typing in a room."""
    chat.set_typing(user, data["room"], data["typing"], origin=request.sid)  # type: ignore[attr-defined]


@event("read", ReadEventSchema())
def on_read(user: User, data: dict[str, Any]) -> Any:
    """A client has read a room up to a message."""
    chat.mark_read(user, data["room"], data["message_id"])


@event("sync", SyncEventSchema())
def on_sync(user: User, data: dict[str, Any]) -> Any:
    """A (re)connected client asks for what it missed after a message id."""
    messages, has_more = chat.sync(user, data["room"], data["after"], data["limit"])
    return {"messages": message_schema.dump(messages, many=True), "has_more": has_more}


@event("react", ReactEventSchema())
def on_react(user: User, data: dict[str, Any]) -> Any:
    """A client adds (on) or takes back its reaction to a message."""
    message = chat.react(user, data["message_id"], data["emoji"], data["on"])
    return {"message": message_schema.dump(message)}


@socketio.on("*")
def on_unknown(event_name: str, *args: Any) -> dict[str, Any]:
    """Any event the contract does not define."""
    metrics.SOCKET_EVENTS.labels("unknown", "error").inc()
    return ApiError("bad_request", f"Unknown event {str(event_name)[:64]!r}.").to_dict()
