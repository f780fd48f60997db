"""Every hook into a third-party library's internals, behind a small surface.

The rule of the fence: outside this package, no module of app/ reads or sets
a private (`_`-prefixed) name of a library's object, overrides a library
class's private method, or replaces a library's function. Whatever needs to
do that lives here, in a module named for what it hooks into, and the rest of
the app uses only the names this package exports (`__all__`, below), never
its modules. tests/unit/test_structure.py checks the rule on the source;
tests/integration/test_library_hooks.py checks each hook's behaviour against
the real libraries (a real Engine.IO and Socket.IO server under the real
eventlet and gevent servers, frames read off the wire, a real Redis), so an
upgrade of a pinned library that changes what a hook relies on fails there.

The modules, and what they hook into:
- engineio_sockets: python-engineio's Socket (its WebSocket handler, send,
  ping schedule and close), eventlet's RFC6455WebSocket (frame packing, its
  send lock, unmasking), simple-websocket and wsproto (gevent), gevent's
  socket: WebSocket frames written from the sending thread.
- redis_queue: python-socketio's PubSubManager, its listener replaced by one
  connection per Redis node and a Redis channel per Socket.IO room (the
  sharded queue, QUEUE_MODE=sharded).
- classic_redis_queue: python-socketio's RedisManager with a listener that
  comes back within a second (QUEUE_MODE=classic).
- room_index: python-socketio's base Manager, keeping each socket's rooms
  so that a disconnect leaves only its own (every manager above, and the
  in-process one without Redis).
- live_delivery: `delivery {live}` to local sockets when the queue is lost
  and back, through python-socketio's base Manager.
- redis_connections: redis-py clients for REDIS_URL (one server or a
  Cluster), what an outage raises, and ending a blocked read.
- raw_sockets: whether a socket has input, looked at through the C socket
  module that eventlet and gevent do not replace.
- redis_urls: redis+sentinel:// URLs, and redis-py clients and connections
  that follow the primary the sentinels name.
- redis_commands: MGET, PUBLISH and EVALSHA on redis-py's connections
  without the client's per-command machinery.
- gunicorn_errors: gunicorn's own error answers (`util.write_error`).
- gunicorn_access: gunicorn's access log with webhook secrets masked (a
  `logger_class` named by app/gunicorn_conf.py; `Logger.atoms`).
- json_parsing: webargs' JSON body decoding.
- socketio_packets: python-socketio's packet decoding and its Engine.IO
  handlers (connect, message, disconnect): undecodable and binary packets
  refused, a per-socket budget, a deadline for the Socket.IO connect.
- sqlalchemy_rows: ORM objects built and kept as if loaded from rows.

Importing this package imports none of those libraries: each name is
imported from its module when first used, so the domain (app/chat), which
uses sqlalchemy_rows, loads nothing of sockets or Redis.
"""

import importlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

__all__ = [
    "ONCE_SECONDS",
    "REDIS_ERRORS",
    "ChatPacket",
    "HotPathCommands",
    "JsonBodyParser",
    "PacketGuard",
    "SOCKET_REFUSED",
    "commit_keeping_loaded",
    "detached",
    "has_input",
    "limits_storage",
    "parse_sentinel_url",
    "install_gunicorn_error_answers",
    "install_socket_hooks",
    "queue_manager",
    "redis_client",
    "set_loaded",
    "socket_as_eventlet_input",
    "socket_stats",
    "tell_if_not_live",
]

# exported name -> (module of this package, its name there)
_LAZY = {
    "ONCE_SECONDS": ("redis_queue", "ONCE_SECONDS"),
    "REDIS_ERRORS": ("redis_connections", "REDIS_ERRORS"),
    "ChatPacket": ("socketio_packets", "ChatPacket"),
    "HotPathCommands": ("redis_commands", "HotPathCommands"),
    "JsonBodyParser": ("json_parsing", "JsonBodyParser"),
    "PacketGuard": ("socketio_packets", "PacketGuard"),
    "SOCKET_REFUSED": ("socketio_packets", "REFUSED"),
    "commit_keeping_loaded": ("sqlalchemy_rows", "commit_keeping_loaded"),
    "detached": ("sqlalchemy_rows", "detached"),
    "has_input": ("raw_sockets", "has_input"),
    "limits_storage": ("redis_urls", "limits_storage"),
    "parse_sentinel_url": ("redis_urls", "parse_sentinel_url"),
    "install_gunicorn_error_answers": ("gunicorn_errors", "install"),
    "install_socket_hooks": ("engineio_sockets", "install"),
    "redis_client": ("redis_connections", "redis_client"),
    "set_loaded": ("sqlalchemy_rows", "set_loaded"),
    "socket_as_eventlet_input": ("engineio_sockets", "socket_as_eventlet_input"),
    "tell_if_not_live": ("live_delivery", "tell_if_not_live"),
}

if TYPE_CHECKING:
    from app.library_hooks.engineio_sockets import install as install_socket_hooks
    from app.library_hooks.engineio_sockets import socket_as_eventlet_input
    from app.library_hooks.gunicorn_errors import install as install_gunicorn_error_answers
    from app.library_hooks.json_parsing import JsonBodyParser
    from app.library_hooks.live_delivery import tell_if_not_live
    from app.library_hooks.raw_sockets import has_input
    from app.library_hooks.redis_commands import HotPathCommands
    from app.library_hooks.redis_connections import REDIS_ERRORS, redis_client
    from app.library_hooks.redis_queue import ONCE_SECONDS
    from app.library_hooks.redis_urls import limits_storage, parse_sentinel_url
    from app.library_hooks.socketio_packets import REFUSED as SOCKET_REFUSED
    from app.library_hooks.socketio_packets import ChatPacket, PacketGuard
    from app.library_hooks.sqlalchemy_rows import commit_keeping_loaded, detached, set_loaded


def __getattr__(name: str) -> Any:
    try:
        module, attribute = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    value = getattr(importlib.import_module(f"{__name__}.{module}"), attribute)
    globals()[name] = value
    return value


def queue_manager(
    redis_url: str | None,
    mode: str = "sharded",
    write_only: bool = False,
    on_emit: Callable[[dict], None] | None = None,
) -> Any:
    """The python-socketio client manager for REDIS_URL and QUEUE_MODE (without
    Redis: python-socketio's in-process manager, room_index.py). `sharded` (the default): one Redis
    channel per Socket.IO room, on one server, a Redis Cluster or a primary watched
    by Sentinel (redis_queue.py); `classic`: python-socketio's one channel that
    every instance reads. write_only: a manager that only emits, for a process that
    serves no socket. on_emit: called with each emit record the sharded manager
    takes from the queue."""
    if not redis_url:
        from app.library_hooks.room_index import ChatManager

        return ChatManager()
    if mode == "classic":
        from app.library_hooks import redis_urls
        from app.library_hooks.classic_redis_queue import ChatRedisManager

        if redis_urls.is_sentinel_url(redis_url):  # python-socketio's own dialect of it
            redis_url = redis_urls.socketio_url(redis_url)
        return ChatRedisManager(redis_url, write_only=write_only)
    from app.library_hooks.redis_queue import ShardedRedisManager

    return ShardedRedisManager(redis_url, write_only=write_only, on_emit=on_emit)


def socket_stats() -> dict[str, int]:
    """This process's WebSocket counters for /metrics: connections written directly
    now (`open`), frames that waited for a slow socket (`deferred`) and sockets
    dropped for falling behind (`dropped_behind`), since the process started."""
    from app.library_hooks.engineio_sockets import STATS

    return STATS
