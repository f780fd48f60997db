"""The Socket.IO message queue, one Redis channel per Socket.IO channel.

python-socketio's RedisManager publishes every emit on one Redis channel that
every instance reads, so every instance pays for every message in the cluster
(docs/performance.md). ShardedRedisManager keeps the same PubSubManager
protocol (emit, disconnect, enter/leave a room for a remote socket, callbacks)
but routes each message on a channel of its own:

- an emit or close_room for a room: on that room's Redis channel, which an
  instance subscribes while at least one of its sockets is in the room;
- anything for one socket (an emit to it, disconnect it, put it in a room):
  on the Redis channel of the instance that holds it, read from the socket's
  id (this manager gives each socket an id that starts with its instance's tag);
- an emit to everyone, to a list of rooms, or to a socket of unknown origin:
  on the broadcast channel every instance subscribes.

On one Redis server it uses SUBSCRIBE/PUBLISH; with a `redis+cluster://` URL,
sharded pub/sub (SSUBSCRIBE/SPUBLISH), so each channel lives on the node that
owns its hash slot and pub/sub traffic spreads over the cluster.

A room's channel is subscribed before the socket's enter_room returns (so
before a `join` is acknowledged): the subscribing caller writes SUBSCRIBE and a
PING with a token of its own on the instance's pub/sub connection, and waits
until the listener reads that PING's reply, which Redis sends only after it
has carried out the SUBSCRIBE. After a Redis restart the listener connects
again and subscribes every channel that still has local sockets before it
says delivery is live again; local sockets hear `delivery {live}` on each
change (docs/api.md, "delivery").
"""

import logging
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import redis
import redis.crc
from bidict import ValueDuplicationError
from redis.backoff import NoBackoff
from redis.retry import Retry
from socketio import PubSubManager
from socketio.manager import Manager

from app.library_hooks import redis_urls
from app.library_hooks.live_delivery import LiveDelivery
from app.library_hooks.redis_commands import HotPathCommands
from app.library_hooks.redis_connections import (
    REDIS_ERRORS,
    end_read,
    has_unread,
    is_cluster_url,
    parse_cluster_url,
    redis_client,
)
from app.library_hooks.room_index import RoomIndex, SidSet

log = logging.getLogger(__name__)

RETRY_MAX = 1.0  # seconds between reconnection attempts, at most
SUBSCRIBE_TIMEOUT = 5.0  # how long a caller waits for Redis to confirm a subscription
ENTER_TIMEOUT = 3.0  # how long enter_room waits for a remote socket's instance
SID_SEP = "~"  # <instance tag>~<engine.io id>: a socket id says where it lives
RESUBSCRIBE_BATCH = 500  # channels per SUBSCRIBE command after a reconnect
HEALTH_INTERVAL = 5.0  # seconds between PINGs on an idle-looking pub/sub connection
# A PING unanswered this long, with nothing read meanwhile, means Redis is unreachable.
HEALTH_TIMEOUT = 5.0
ONCE_SECONDS = 120  # how long Redis remembers that an emit_once went out

# emit_once: the record that an emit went out and its PUBLISH, in one script, so
# Redis has both or neither. KEYS[1]: the record, hash-tagged with the channel
# (on a cluster a script's SPUBLISH must be in its keys' slot). ARGV: seconds
# to keep the record, PUBLISH or SPUBLISH, the channel ('' for none), the payload.
_ONCE_LUA = """
if not redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[1]) then return 0 end
if ARGV[3] ~= '' then redis.call(ARGV[2], ARGV[3], ARGV[4]) end
return 1
"""


class _Shard:
    """The pub/sub connection to one Redis node and the greenlet that reads it.

    Only the listener reads the connection; callers only write to it, under
    `lock`, so a SUBSCRIBE and the PING after it go out together and in order.
    """

    def __init__(
        self,
        manager: "ShardedRedisManager",
        address: tuple[str, int],
        connection_kwargs: dict[str, Any],
        sharded: bool,
    ) -> None:
        self.manager = manager
        self.address = address
        self.kwargs = dict(connection_kwargs)
        self.connection_class = self.kwargs.pop("connection_class", redis.Connection)
        self.sharded = sharded
        self.subscribe, self.unsubscribe = (
            ("SSUBSCRIBE", "SUNSUBSCRIBE") if sharded else ("SUBSCRIBE", "UNSUBSCRIBE")
        )
        self.lock = threading.Lock()
        self.conn: Any = None
        self.up = False
        self.sent: set[str] = set()  # channels subscribed (or being subscribed) on self.conn
        # channel -> the event of the PING that confirms its SUBSCRIBE
        self.pending: dict[str, Any] = {}
        self.tokens: dict[str, Any] = {}  # PING token -> event
        self.leaving: dict[str, int] = {}  # channel -> UNSUBSCRIBEs sent and not yet confirmed
        self.ready = None  # the event of the PING that ends a (re)subscription
        self.replies = 0  # replies the listener has handled (watch() sees it go on)
        self.handling = False  # the listener is handling a reply, not waiting for one

    # --- callers (request and event handlers) ------------------------------

    def ensure(self, channel: str, wanted: Callable[[], bool]) -> Any:
        """Subscribes `channel` if wanted() and not yet subscribed; returns an
        event that is set once Redis has it (or the connection is lost), or
        None when there is nothing to wait for."""
        with self.lock:
            if self.conn is None:
                return None  # down: the next connection subscribes every wanted channel
            if not wanted():
                return None
            if channel in self.sent:
                return self.pending.get(channel)
            event = self._send([(self.subscribe, channel)])
            self.sent.add(channel)
            self.pending[channel] = event
            return event

    def drop(self, channel: str, wanted: Callable[[], bool]) -> None:
        """Unsubscribes `channel` unless wanted() again by now."""
        with self.lock:
            if self.conn is None or channel not in self.sent or wanted():
                return
            self.sent.discard(channel)
            self.pending.pop(channel, None)
            self.leaving[channel] = self.leaving.get(channel, 0) + 1
            try:
                self.conn.send_packed_command(
                    self.conn.pack_command(self.unsubscribe, channel), check_health=False
                )
            except Exception:
                pass  # the listener sees the broken connection and resubscribes what is wanted

    def _send(self, commands):
        """Writes commands then a PING with a fresh token; returns the PING's event."""
        token = uuid.uuid4().hex
        event = self.manager.server.eio.create_event()
        self.tokens[token] = event
        try:
            self.conn.send_packed_command(
                self.conn.pack_commands([*commands, ("PING", token)]), check_health=False
            )
        except Exception:
            self.tokens.pop(token, None)
            event.set()  # the listener sees the broken connection and starts over
        return event

    # --- the listener ----------------------------------------------------------

    def run(self) -> None:
        retry = 0.1
        while True:
            try:
                self._connect()
                retry = 0.1
                while True:
                    reply = self.conn.read_response(disconnect_on_error=False)
                    self.handling = True
                    try:
                        self._dispatch(reply)
                    finally:
                        self.handling = False
                        self.replies += 1
            except Exception as exc:
                self._lost(exc)
            time.sleep(retry)
            retry = min(retry * 2, RETRY_MAX)

    def watch(self) -> None:
        """PINGs Redis every HEALTH_INTERVAL seconds and closes a connection whose
        PING goes unanswered for HEALTH_TIMEOUT (a hung Redis or a lost network
        closes nothing by itself), so that the listener starts over and local
        sockets hear that delivery is off.

        A listener that is behind is not a hung Redis: while it handles replies,
        or bytes wait on its socket, the PING's reply may be among them, and the
        watch waits another HEALTH_TIMEOUT. (A worker too busy to read for a few
        seconds had its connection closed, and subscribed every channel again
        at the worst time.)"""
        while True:
            time.sleep(HEALTH_INTERVAL)
            with self.lock:
                conn = self.conn
                if conn is None:
                    continue
                event = self._send([])
            handled = self.replies
            while not event.wait(HEALTH_TIMEOUT) and self.conn is conn:
                if self.replies != handled or self.handling or has_unread(conn):
                    handled = self.replies  # behind, and Redis answers: wait on
                    continue
                log.error(
                    "message queue: Redis %s:%s did not answer a PING in %.0f s; reconnecting",
                    *self.address,
                    HEALTH_TIMEOUT,
                )
                end_read(conn)
                break

    def _connect(self):
        conn = self.connection_class(**self.kwargs)
        conn.connect()
        with self.lock:
            self.conn = conn
            channels = self.manager.channels_for(self)
            self.sent = set(channels)
            ready = self._send([(self.subscribe, *batch) for batch in self._batches(channels)])
            for channel in channels:
                self.pending[channel] = ready
        self.ready = ready

    def _batches(self, channels):
        """Channels in groups for one command each; SSUBSCRIBE takes one slot's only."""
        groups = {}
        for channel in sorted(channels):
            key = redis.crc.key_slot(channel.encode()) if self.sharded else 0
            groups.setdefault(key, []).append(channel)
        for group in groups.values():
            for i in range(0, len(group), RESUBSCRIBE_BATCH):
                yield group[i : i + RESUBSCRIBE_BATCH]

    def _dispatch(self, reply):
        if isinstance(reply, bytes):
            # A PING's reply on a connection with no subscription left (possible
            # on a cluster node that holds none of this instance's channels).
            reply = [b"pong", reply]
        kind = reply[0]
        if kind in (b"message", b"smessage"):
            self.manager.on_queue_message(reply[2])
        elif kind == b"pong":
            event = self.tokens.pop(reply[1].decode(), None)
            if event is not None:
                event.set()
                for channel in [c for c, e in self.pending.items() if e is event]:
                    del self.pending[channel]
                if event is self.ready and not self.up:
                    self.up = True
                    self.manager.shard_changed()
        elif kind in (b"unsubscribe", b"sunsubscribe"):
            channel = reply[1].decode()
            if self.leaving.get(channel):
                self.leaving[channel] -= 1
                if not self.leaving[channel]:
                    del self.leaving[channel]
            elif channel in self.sent:
                # Redis dropped a channel we did not leave: its slot moved to another node.
                raise redis.ConnectionError(f"sharded channel {channel!r} moved")

    def _lost(self, exc):
        with self.lock:
            conn, self.conn = self.conn, None
            was_up, self.up = self.up, False
            self.sent = set()
            events = list(self.tokens.values())
            self.tokens.clear()
            self.pending.clear()
            self.leaving.clear()
        for event in events:
            event.set()  # nobody waits for a reply that will not come
        if conn is not None:
            conn.disconnect()
        if was_up or self.manager.live is None:
            log.error(
                "message queue: %s Redis %s:%s (%s: %s); retrying",
                "lost" if was_up else "cannot reach",
                *self.address,
                exc.__class__.__name__,
                exc,
            )
        self.manager.shard_changed()


class ShardedRedisManager(RoomIndex, LiveDelivery, PubSubManager):
    """A PubSubManager with one Redis (or Redis Cluster shard) channel per room."""

    name = "sharded-redis"

    def __init__(
        self,
        url: str,
        channel: str = "chat",
        write_only: bool = False,
        logger: Any = None,
        on_emit: Callable[[dict], None] | None = None,
    ) -> None:
        super().__init__(channel=channel, write_only=write_only, logger=logger)
        self.url = url
        # Called with each emit record as it arrives from the queue (the app's
        # delivery-lag histogram), before it is handed to the local sockets.
        self.on_emit = on_emit
        self.cluster = is_cluster_url(url)
        self.tag = self.host_id[:12]
        self._own = self.tag.encode() + b"|"
        self._shards: dict[tuple[str, int], _Shard] = {}
        self._replies: dict[str, Any] = {}  # enter_room request id -> event
        self.client = None
        self.commands = None
        self._once = None  # the emit_once script, registered with the publisher

    # --- channels ----------------------------------------------------------

    def broadcast_channel(self) -> str:
        return self.channel

    def host_channel(self, tag: str) -> str:
        return f"{self.channel}#host#{tag}"

    def room_channel(self, namespace: str, room: str) -> str:
        return f"{self.channel}#{namespace}#{room}"

    def _owner_tag(self, sid):
        tag, sep, _ = str(sid).partition(SID_SEP)
        return tag if sep else None

    def channels_for(self, shard: _Shard) -> set[str]:
        """Every channel this instance needs on `shard`: the broadcast channel,
        its own channel, and the rooms that have a local socket."""
        channels = {self.broadcast_channel(), self.host_channel(self.tag)}
        for namespace, rooms in list(self.rooms.items()):
            for room in list(rooms):
                if self._is_shared_room(namespace, room):
                    channels.add(self.room_channel(namespace, room))
        return {c for c in channels if self._shard_for(c) is shard}

    def _is_shared_room(self, namespace, room):
        return room is not None and not self.is_sid_room(namespace, room)

    # --- Redis -------------------------------------------------------------

    def _connection_kwargs(self):
        # RESP2: pub/sub messages are plain replies to read in order (RESP3, which
        # redis-py may negotiate, hands them to push callbacks instead).
        options = dict(
            socket_connect_timeout=2,
            socket_keepalive=True,
            socket_timeout=None,
            health_check_interval=0,
            retry=Retry(NoBackoff(), 0),
            protocol=2,
        )
        if self.cluster:
            nodes, credentials = parse_cluster_url(self.url)
            return nodes, {**credentials, **options}
        if redis_urls.is_sentinel_url(self.url):
            # One listener, whose every connection asks the sentinels for the primary.
            factory = redis_urls.primary_connection_factory(self.url, **options)
            return [redis_urls.listener_label(self.url)], {**options, "connection_class": factory}
        kwargs = redis.connection.parse_url(self.url)
        address = (kwargs.get("host", "localhost"), kwargs.get("port", 6379))
        return [address], {**kwargs, **options}

    def _publisher(self):
        """The client that publishes (and, on a cluster, knows the slots' nodes)."""
        if self.client is None:
            self.client = redis_client(self.url, socket_connect_timeout=2, socket_timeout=5)
            self.commands = HotPathCommands(self.client)
        return self.client

    def _commands(self):
        """The publisher's HotPathCommands (redis_commands.py)."""
        self._publisher()
        return self.commands

    def _start_listeners(self):
        nodes, kwargs = self._connection_kwargs()
        if self.cluster:
            nodes = [(n.host, n.port) for n in self._publisher().get_primaries()]
        for address in nodes:
            node_kwargs = {**kwargs, "host": address[0], "port": address[1]}
            shard = _Shard(self, address, node_kwargs, sharded=self.cluster)
            self._shards[address] = shard
            self.server.start_background_task(shard.run)
            self.server.start_background_task(shard.watch)

    def _shard_for(self, channel):
        if not self.cluster:
            return next(iter(self._shards.values()))
        client = self._publisher()
        node = client.nodes_manager.get_node_from_slot(client.keyslot(channel))
        return self._shards.get((node.host, node.port))

    def _publish(self, data):
        channel = self._route(data)
        if channel is None:
            return
        payload = self._own + self.json.dumps(data).encode()
        try:
            if self.cluster:
                self._publisher().spublish(channel, payload)
            else:
                self._commands().publish(channel, payload)
        except Exception as exc:
            self._get_logger().error(
                "message queue: cannot publish on %s (%s)", channel, exc.__class__.__name__
            )

    def _route(self, data):
        """The Redis channel for a message, or None when no other instance needs it."""
        method = data["method"]
        namespace = data.get("namespace") or "/"
        if method == "callback":
            return self.host_channel(data["host_id"][:12])
        if method in ("room_entered", "room_left"):
            return self.host_channel(data["reply_to"])
        if method in ("disconnect", "enter_room", "leave_room"):
            owner = self._owner_tag(data["sid"])
            return self.host_channel(owner) if owner else self.broadcast_channel()
        room = data.get("room")
        if room is None or not isinstance(room, str):
            return self.broadcast_channel()
        if self.is_sid_room(namespace, room):
            return None  # a socket of this instance: already handled here
        owner = self._owner_tag(room)
        if owner:
            return self.host_channel(owner)
        return self.room_channel(namespace, room)

    def emit_once(
        self,
        key: str,
        event: str,
        data: Any,
        room: str,
        namespace: str = "/",
        first: bool = True,
    ) -> bool:
        """As emit, unless an emit_once with this `key` went out in the last
        ONCE_SECONDS; True if this one did.

        For a message whose sender retries: an instance that stored it and died
        before its broadcast left it unsent, and the retry, through another
        instance, finds it stored and sends it now; if the first broadcast went
        out, the retry sends nothing. The record and the PUBLISH are one script,
        so no crash can leave one without the other. Local sockets get the emit
        only if the script ran it. With Redis unreachable nothing can be known:
        a `first` emit reaches this instance's sockets, a repeat nobody."""
        namespace = namespace or "/"
        message = {
            "method": "emit",
            "event": event,
            "data": [data],
            "binary": False,
            "namespace": namespace,
            "room": room,
            "skip_sid": None,
            "callback": None,
            "host_id": self.host_id,
        }
        channel = self._route(message)
        tag = channel or self.room_channel(namespace, room)
        args = [
            ONCE_SECONDS,
            "SPUBLISH" if self.cluster else "PUBLISH",
            channel or "",
            self._own + self.json.dumps(message).encode(),
        ]
        try:
            if self._once is None:
                self._once = self._publisher().register_script(_ONCE_LUA)
            sent = bool(self._commands().run_script(self._once, [f"{{{tag}}}:once:{key}"], args))
        except REDIS_ERRORS as exc:
            self._get_logger().error(
                "message queue: cannot publish on %s (%s)", channel, exc.__class__.__name__
            )
            sent = first
        if sent:
            self._handle_emit(message)
        return sent

    # --- the listeners' side -------------------------------------------------

    def on_queue_message(self, payload: bytes) -> None:
        if payload.startswith(self._own):
            return
        try:
            data = self.json.loads(payload.split(b"|", 1)[1])
            method = data["method"]
        except Exception:
            self._get_logger().warning("message queue: unreadable message ignored")
            return
        try:
            if method == "emit":
                if self.on_emit is not None:
                    self.on_emit(data)
                self._handle_emit(data)
            elif method == "callback":
                self._handle_callback(data)
            elif method in ("room_entered", "room_left"):
                event = self._replies.pop(data.get("request"), None)
                if event is not None:
                    event.set()
            elif method == "enter_room":
                # Subscribing waits for this very listener: do it elsewhere.
                self.server.start_background_task(self._handle_enter_room, data)
            elif method == "leave_room":
                self._handle_leave_room(data)
                if data.get("request") and data.get("reply_to"):
                    self._publish(
                        {
                            "method": "room_left",
                            "request": data["request"],
                            "reply_to": data["reply_to"],
                            "host_id": self.host_id,
                        }
                    )
            elif method == "close_room":
                self._handle_close_room(data)
            elif method == "disconnect":
                self.server.start_background_task(self._handle_disconnect, data)
        except Exception:
            self._get_logger().exception("message queue: error handling %s", method)

    def _handle_enter_room(self, message):
        super()._handle_enter_room(message)
        if message.get("request") and message.get("reply_to"):
            self._publish(
                {
                    "method": "room_entered",
                    "request": message["request"],
                    "reply_to": message["reply_to"],
                    "host_id": self.host_id,
                }
            )

    def shard_changed(self) -> None:
        """A listener connected or lost its connection: live when all are up."""
        live = bool(self._shards) and all(s.up for s in self._shards.values())
        if live and not self.live:
            log.warning(
                "message queue: listening, %d channels subscribed",
                sum(len(s.sent) for s in self._shards.values()),
            )
        self.set_live(live)

    # --- python-socketio's manager interface --------------------------------

    def initialize(self) -> None:
        # PubSubManager.initialize would start its single-channel reader; the
        # shards' listeners replace it.
        Manager.initialize(self)
        self._start_listeners()
        self._get_logger().info(
            "sharded Redis queue initialized (%s)", "cluster" if self.cluster else "single node"
        )

    def pre_connect(self, eio_sid: str, namespace: str) -> str | None:
        # As Manager.pre_connect, with a socket id that names this instance.
        sid = f"{self.tag}{SID_SEP}{self.server.eio.generate_id()}"
        try:
            self.basic_enter_room(sid, namespace, None, eio_sid=eio_sid)
        except ValueDuplicationError:
            return None  # already connected
        self.basic_enter_room(sid, namespace, sid, eio_sid=eio_sid)
        self.pending_connect.setdefault(namespace, SidSet()).append(sid)
        return sid

    def enter_room(self, sid: str, namespace: str, room: str, eio_sid: str | None = None) -> None:
        if self.is_connected(sid, namespace) or self.is_pre_connected(sid, namespace):
            return super().enter_room(sid, namespace, room, eio_sid=eio_sid)
        # A socket on another instance: ask its instance and wait until it has
        # subscribed, so that the caller's next emit to the room reaches it.
        self._ask_remote("enter_room", sid, namespace, room)

    def leave_room(self, sid: str, namespace: str, room: str) -> None:
        """As python-socketio's, but for a socket on another instance it waits (up to
        ENTER_TIMEOUT) until that instance has taken it out of the room: a kick or a
        ban returns only once the removed user's sockets get nothing more."""
        if self.is_connected(sid, namespace) or self.is_pre_connected(sid, namespace):
            return super().leave_room(sid, namespace, room)
        self._ask_remote("leave_room", sid, namespace, room)

    def _ask_remote(self, method: str, sid: str, namespace: str, room: str) -> None:
        """Asks the instance that holds `sid` to run `method` (enter_room or
        leave_room) and waits, up to ENTER_TIMEOUT, for its answer. A socket of
        this instance that has closed (presence may still list it) needs nothing."""
        if self._owner_tag(sid) == self.tag:
            return
        request = uuid.uuid4().hex
        event = self.server.eio.create_event()
        self._replies[request] = event
        self._publish(
            {
                "method": method,
                "sid": sid,
                "room": room,
                "namespace": namespace or "/",
                "host_id": self.host_id,
                "request": request,
                "reply_to": self.tag,
            }
        )
        if not self.live:  # no answer could reach this instance now
            self._replies.pop(request, None)
            return
        if not event.wait(ENTER_TIMEOUT):
            self._replies.pop(request, None)
            log.warning(
                "message queue: no answer to %s for remote socket %s (%s)", method, sid, room
            )

    def basic_enter_room(
        self, sid: str, namespace: str, room: str | None, eio_sid: str | None = None
    ) -> None:
        super().basic_enter_room(sid, namespace, room, eio_sid=eio_sid)
        if self._shards and room is not None and self._is_shared_room(namespace, room):
            channel = self.room_channel(namespace, room)
            shard = self._shard_for(channel)
            if shard is None:
                return
            event = shard.ensure(channel, lambda: room in self.rooms.get(namespace, {}))
            if event is not None and not event.wait(SUBSCRIBE_TIMEOUT):
                log.warning("message queue: Redis did not confirm %s in time", channel)

    def basic_leave_room(self, sid: str, namespace: str, room: str | None) -> None:
        super().basic_leave_room(sid, namespace, room)
        if (
            self._shards
            and room is not None
            and room != sid
            and room not in self.rooms.get(namespace, {})
        ):
            channel = self.room_channel(namespace, room)
            shard = self._shard_for(channel)
            if shard is not None:
                shard.drop(channel, lambda: room in self.rooms.get(namespace, {}))
