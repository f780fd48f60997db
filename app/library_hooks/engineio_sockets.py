"""Engine.IO sockets that write WebSocket frames from the sending green thread.

python-engineio gives every WebSocket connection a writer green thread parked
on the socket's queue (`Socket.poll`, a `queue.get` with a timeout), and every
ping interval a green thread that sleeps until the next ping. A delivery is
then a queue put, a timer, a switch to the writer, the frame's packing (the
UTF-8 encoding of the whole packet, for each socket of the room) and a
`send()`; an idle connection holds three parked green threads, each with a
stack copied to the heap (docs/performance.md, "Where the time goes").

`DirectSocket` keeps python-engineio's behaviour and protocol and changes how
bytes leave, once the connection is on WebSocket (eventlet; under gevent,
`GeventDirectSocket` does the same over simple-websocket's connection):

- `send` packs the frame and writes it with a non-blocking `send()` from the
  thread that emits. A frame without per-socket compression is packed once
  per packet and shared by every socket the packet goes to (python-socketio
  hands one Engine.IO packet to all the sockets of a room).
- What the kernel does not take at once waits in the socket's buffer, and one
  short-lived green thread writes it out, joining every frame queued meanwhile
  into one write. A slow client blocks only that thread, never the emitter;
  frames keep their order, and none is written in the middle of another
  (the WebSocket's own send lock is held while anything is unsent).
- Every socket's next ping waits in a slot of `_PingWheel`, whose one green
  thread per process sends the pings that are due, rather than a sleeping
  green thread (or a hub timer and a green thread) per socket and ping; the
  ping packet is one object, its frame packed once.
- python-engineio's check for clients that missed their pong
  (`Server._service_task`) goes over every socket in one pass each ping
  timeout, rather than sleeping between one socket and the next (a timer and
  a switch per socket: 500 a second for 10,000 sockets); each socket is
  looked at as often as before, so a pong has the same slack.
- More than MAX_UNSENT_BYTES waiting behind the oldest unsent frame drops
  the socket (its client reconnects and syncs); `BoundedQueueSocket` does
  the same for the library's queue (threading, polling).

So an idle connection parks only its own reader (under gevent, also
simple-websocket's reading thread). The polling transport, and the packets
queued before the upgrade, go through the library's queue as before.
threading keeps the library's writer, with one fix (`WholeFrameSocket`:
frames written whole).

Under eventlet, every frame a client sends is unmasked (RFC 6455 5.3) by
`unmask` instead of eventlet's `_apply_mask`, which makes a bytes object per
byte: a cost that grows with the frame and holds the whole worker for a large
one that any client can send (docs/performance.md, "Limits"; `bench.unmask`).

What a client sends is bounded as it arrives: a WebSocket message is counted
piece by piece (each frame of a fragmented message, each read of a frame) and
the connection failed with close code 1009 past the largest packet, whatever
the frames announce (eventlet: `_counted_message_class`; gevent and threading:
`_MessageSizeLimit`, which also stops simple-websocket's reading thread while
MAX_WAITING_MESSAGES messages wait for the reader). A polling body that does
not decode is dropped, a WebSocket message that is no Engine.IO packet ends
its connection (as the protocol says); both are counted (STATS), never logged
with a traceback.

A hook into a pinned library's internals (python-engineio 4.x's
`Socket._websocket_handler`, `schedule_ping`, `last_ping`, `send`, `poll`,
`close` and `handle_post_request`, and `Server._service_task`; eventlet's
`RFC6455WebSocket._pack_message`, `_sendlock`, `_apply_mask` and `Message`;
simple-websocket 1.1's `Base.sock`, `ws`, `close`, `input_buffer` and
`connected`, wsproto's negotiated extensions and events, gevent's socket's
`_sock`), kept to this module.
tests/integration/test_library_hooks.py serves it under gunicorn's real
eventlet and gevent workers and reads its frames off the wire, and the
integration suite runs every real-time test through it.
"""

import _socket
import functools
import logging
import socket
import ssl
import struct
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import engineio.exceptions
import engineio.socket
from engineio import packet as eio_packet

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

FLUSH_ON_CLOSE = 5  # seconds a closing socket's unsent frames get to go out
# Whole messages simple-websocket may hold for the reader before it stops reading
# (gevent, threading): with the largest packet, about 1 MiB per socket.
MAX_WAITING_MESSAGES = 16

# What one socket may have waiting behind the oldest frame its client has not
# taken before the server drops it (the client reconnects and syncs): without a
# cap, a client that stops reading in a busy room is held in memory until its
# pings time out (40 s). The oldest frame is not counted, so one reply of any
# size (a page of long messages can pass 4 MB) never drops a client by itself.
# Set by install() from SOCKET_MAX_UNSENT_BYTES. On a WebSocket written directly
# (eventlet, gevent) it counts bytes of frames the kernel has not taken; on the
# library's queue (threading, the polling transport, the packets queued before
# an upgrade) the packets' length, characters for text.
MAX_UNSENT_BYTES = 1 << 20

# For /metrics: the WebSocket connections written directly now, the frames that
# have had to wait for a slow socket, and the sockets dropped for falling more
# than MAX_UNSENT_BYTES behind, since the process started.
# And the WebSocket messages refused for going over the largest packet as they
# arrived (closed with 1009), and the Engine.IO packets (WebSocket) and polling
# bodies that did not decode (dropped).
STATS = {"open": 0, "deferred": 0, "dropped_behind": 0, "too_large": 0, "undecodable": 0}
LOG_EVERY = 10.0  # seconds: at most one line about undecodable input in that time
_undecodable_logged = [-LOG_EVERY, 0]  # the time of the last line, the ones not written since

log = logging.getLogger(__name__)


class _SpentQueue:
    """A directly written socket's queue once its contents went out: what the
    library's close() puts there (None: "the writer may stop") is for nobody."""

    def put(self, item: Any) -> None:
        pass

    def join(self) -> None:
        pass


_SPENT_QUEUE = _SpentQueue()


def _undecodable(sid, exc):
    """Counts input that does not decode and logs it, at most once every LOG_EVERY s."""
    STATS["undecodable"] += 1
    now = time.monotonic()
    last, skipped = _undecodable_logged
    if now - last < LOG_EVERY:
        _undecodable_logged[1] = skipped + 1
        return
    _undecodable_logged[:] = [now, 0]
    log.warning(
        "%s: undecodable Engine.IO input refused: %s (and %d more not logged in the last %g s)",
        sid,
        exc,
        skipped,
        LOG_EVERY,
    )


def _packet_length(pkt):
    data = pkt.data
    return len(data) if isinstance(data, (str, bytes)) else 64


# python-engineio's own class: install() puts one of this module's in its place.
_LibrarySocket: Any = engineio.socket.Socket


class BoundedQueueSocket(_LibrarySocket):
    """python-engineio's socket with a cap on what waits on its queue for the
    writer (or for the next poll): past MAX_UNSENT_BYTES behind the oldest
    packet, the socket is dropped.

    The count is of the packets put since the queue was last drained (poll
    starts it again), so what the writer takes at once never adds up."""

    _queued = None  # since the last poll: None, nothing put; else the length behind the first
    _dropped = False  # fell behind: what is sent now is for nobody

    def send(self, pkt: eio_packet.Packet) -> None:
        if self._dropped:
            return
        if self._queued is None:
            self._queued = 0
        else:
            self._queued += _packet_length(pkt)
            if self._queued > MAX_UNSENT_BYTES:
                self._fell_behind(self._queued)
                return
        super().send(pkt)

    def poll(self) -> list[eio_packet.Packet]:
        packets = super().poll()
        self._queued = None
        return packets

    def handle_post_request(self, environ: dict[str, Any]) -> Any:
        """A polling POST: a body that does not decode (not UTF-8, a packet type
        that is not a digit, an empty packet, bad base64) is dropped whole and
        counted, rather than logged with a traceback."""
        try:
            return super().handle_post_request(environ)
        except ValueError as exc:
            _undecodable(self.sid, exc)

    def _fell_behind(self, waiting):
        """Drops a client that does not take what it is sent. The close runs in a
        green thread of its own: this one is in the middle of someone's emit."""
        self._dropped = True
        STATS["dropped_behind"] += 1
        log.warning(
            "%s: dropped: %d bytes waiting for a client that does not read "
            "(SOCKET_MAX_UNSENT_BYTES is %d)",
            self.sid,
            waiting,
            MAX_UNSENT_BYTES,
        )
        self._discard_queued()
        self._abandon_transport()
        self.server.start_background_task(
            self.close, wait=False, abort=True, reason=self.server.reason.TRANSPORT_ERROR
        )

    def _discard_queued(self):
        """Empties the queue now, not when the socket object goes (a polling client
        that never comes back is forgotten only by the server's next sweep)."""
        if self.queue is _SPENT_QUEUE:
            return
        empty = self.server.get_queue_empty_exception()
        while True:
            try:
                self.queue.get(block=False)
            except empty:
                return
            self.queue.task_done()

    def _abandon_transport(self):
        """Ends a write that is blocked on the client (none on the queue's own path)."""


class DirectSocket(BoundedQueueSocket):
    """An Engine.IO socket whose WebSocket frames are written by the sender (see module doc)."""

    last_ping: float | None  # the library's: when the last ping went out (None: waiting)

    def __init__(self, server: Any, sid: str) -> None:
        super().__init__(server, sid)
        self._ws = None  # the WebSocket, once packets go to it directly
        self._unsent: list[bytes] = []  # frames (bytes) the kernel has not taken yet
        self._behind = 0  # the length of those after the first
        self._flushing = False  # a green thread holds the send lock to write _unsent
        self._flushed = None  # an event set when that thread ends
        self._ws_closed = False

    # --- sending ---------------------------------------------------------

    def send(self, pkt: eio_packet.Packet) -> None:
        if self._ws is None:
            return super().send(pkt)
        if self._dropped or not self.check_ping_timeout():
            return
        self._write(self._frame(pkt))
        if self.server.logger.isEnabledFor(logging.INFO):
            self.server.logger.info(
                "%s: Sending packet %s (direct)", self.sid, eio_packet.packet_names[pkt.packet_type]
            )

    def _frame(self, pkt):
        ws = self._ws
        if ws.extensions.get("permessage-deflate"):
            return ws._pack_message(pkt.encode())  # compressed per socket
        frame = getattr(pkt, "_ws_frame", None)
        if frame is None:
            frame = pkt._ws_frame = ws._pack_message(pkt.encode())
        return frame

    def _write(self, frame):
        if self._flushing or not self._ws._sendlock.acquire(blocking=False):
            self._defer(frame, holding_lock=False)
            return
        try:
            sent = self._ws.socket.fd.send(frame)
        except BlockingIOError:
            sent = 0
        except OSError:
            self._ws._sendlock.release()
            self._shut_down()
            return
        if sent == len(frame):
            self._ws._sendlock.release()
            return
        self._defer(frame[sent:], holding_lock=True)

    def _defer(self, frame, holding_lock):
        """Keeps what the kernel did not take for the flushing green thread, or
        drops the client if more than MAX_UNSENT_BYTES would wait behind the
        oldest frame."""
        STATS["deferred"] += 1
        if self._unsent:
            self._behind += len(frame)
            if self._behind > MAX_UNSENT_BYTES:
                if holding_lock:
                    self._ws._sendlock.release()
                self._fell_behind(self._behind)
                return
        self._unsent.append(frame)
        self._start_flush(holding_lock)

    def _start_flush(self, holding_lock):
        if self._flushing:
            return
        self._flushing = True
        self._flushed = self.server.create_event()
        self.server.start_background_task(self._flush, holding_lock)

    def _flush(self, holding_lock):
        ws = self._ws
        if not holding_lock:
            ws._sendlock.acquire()
        try:
            while self._unsent:
                data = b"".join(self._unsent)
                self._unsent.clear()
                self._behind = 0
                ws.socket.sendall(data)  # blocks this green thread only
        except Exception:  # noqa: BLE001  (a dead peer or a send timeout: drop the connection)
            self._shut_down()
        finally:
            self._flushing = False
            ws._sendlock.release()
            self._flushed.set()

    def _shut_down(self):
        """Drops what is unsent and shuts the socket down: the reader's wait and a
        pending write end at once (the reader then closes the Engine.IO socket).
        For a peer that is gone or does not read, and as the last step of a close."""
        self._unsent.clear()
        self._behind = 0
        try:
            self._ws.socket.fd.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _abandon_transport(self):
        if self._ws is not None:
            self._shut_down()  # a flush blocked in sendall() fails; the reader wakes

    # --- pings -----------------------------------------------------------

    def schedule_ping(self) -> None:
        if not self.last_ping:
            return  # the previous ping's wait has not ended
        self.last_ping = None
        _ping_wheel(self.server).add(self)

    def send_ping(self) -> None:
        if not self.closing and not self.closed:
            self.last_ping = time.time()
            self.send(_PING)

    # --- closing ---------------------------------------------------------

    def close(self, wait: bool = True, abort: bool = False, reason: Any = None) -> None:
        was_closing = self.closed or self.closing
        super().close(wait=wait and self._ws is None, abort=abort, reason=reason)
        if self._ws is None or was_closing or self._ws_closed:
            return  # (after the reader's own end, the WebSocket is already closed)
        if wait:
            self._close_websocket()
        else:
            self.server.start_background_task(self._close_websocket)

    def _close_websocket(self, discard=False):
        """Ends the WebSocket: what is unsent goes out first (for up to FLUSH_ON_CLOSE
        seconds; with discard, not at all), then a close frame, then a shutdown,
        which wakes the reader at once (closing the descriptor would leave it parked
        on a file the hub no longer watches). gunicorn closes the descriptor when
        the handler returns."""
        if self._ws_closed:
            return
        self._ws_closed = True
        if discard:
            self._shut_down()
        if self._flushing and not self._flushed.wait(FLUSH_ON_CLOSE):
            self._shut_down()  # a client that does not read: its sendall() fails now
            self._flushed.wait()
        try:
            self._ws._send_closing_frame(ignore_send_errors=True)
        except OSError:
            pass
        self._shut_down()

    # --- the WebSocket connection ----------------------------------------

    def _websocket_handler(self, ws):
        from eventlet.websocket import RFC6455WebSocket

        raw = getattr(ws.socket, "fd", None)
        if (
            not isinstance(ws, RFC6455WebSocket)
            or not isinstance(raw, _socket.socket)
            or isinstance(raw, ssl.SSLSocket)
        ):
            return super()._websocket_handler(ws)  # only plain sockets are written directly
        server = self.server
        # Until the WebSocket is written directly, a client that never finishes
        # the upgrade is dropped by a timeout, as in the library; from then on an
        # idle socket needs no timer: a dead client misses its pings and the
        # Engine.IO close (_close_websocket) wakes the reader.
        ws.socket.settimeout(server.ping_interval + server.ping_timeout)

        def taken_over():
            ws.socket.settimeout(None)
            ws._msgs = None  # RFC 6455's reader never uses the deque the base class made

        return self._serve(ws, ws, taken_over)

    def _serve(self, ws, writer, taken_over=lambda: None):
        """The connection from the upgrade on: `ws` is what frames are read from
        (its wait()) and the probe answered with (its send()), `writer` what this
        class writes through from then on (eventlet's WebSocket, or _GeventWriter)."""
        server = self.server

        def receive():
            data = ws.wait()
            if data and len(data) > server.max_http_buffer_size:
                STATS["too_large"] += 1
                raise ValueError("packet is too large")
            return data

        if self.connected:
            # Upgrade from polling: the probe, then the UPGRADE packet.
            self.upgrading = True  # sends are held on the queue meanwhile
            probe = eio_packet.Packet(encoded_packet=receive())
            if probe.packet_type != eio_packet.PING or probe.data != "probe":
                self.upgrading = False
                return []
            ws.send(eio_packet.Packet(eio_packet.PONG, data="probe").encode())
            self.queue.put(eio_packet.Packet(eio_packet.NOOP))  # ends the pending poll
            # Let that poll take it now: the client's UPGRADE may already be
            # readable, and then nothing below yields before _send_queued would
            # drain the queue, NOOP and all, leaving the poll waiting until its
            # timeout closes the session.
            server.sleep(0)
            if eio_packet.Packet(encoded_packet=receive()).packet_type != eio_packet.UPGRADE:
                self.upgrading = False
                return []
            self.upgrading = False
        else:
            self.connected = True
        self.upgraded = True
        self._ws = writer
        taken_over()
        STATS["open"] += 1
        try:
            self._send_queued()
            self.queue = _SPENT_QUEUE  # nothing waits on it any more; close() puts None
            self._read(receive)
        finally:
            STATS["open"] -= 1
            # The client is gone, or the server's close has run: what is unsent
            # is for nobody.
            self._close_websocket(discard=True)
            self.close(wait=False, abort=True, reason=server.reason.TRANSPORT_CLOSE)
        return []

    def _send_queued(self):
        """Packets queued before the WebSocket took over (OPEN, CONNECT, held sends)."""
        empty = self.server.get_queue_empty_exception()
        while True:
            try:
                pkt = self.queue.get(block=False)
            except empty:
                return
            self.queue.task_done()
            if pkt is None:
                return
            self._write(self._frame(pkt))

    def _wait_readable(self):
        from eventlet.hubs import trampoline

        # An idle socket's green thread parks here rather than inside
        # recv(): a shallower stack for greenlet to keep a copy of.
        trampoline(self._ws.socket.fd, read=True)

    def _read(self, receive):
        while True:
            try:
                self._wait_readable()
                data = receive()
            except Exception as exc:  # noqa: BLE001  (the library's reader ends the same way)
                if not self.closed:
                    self.server.logger.info(
                        "%s: Unexpected error %r, closing connection", self.sid, exc
                    )
                return
            if data is None:
                return  # the client closed the connection
            try:
                pkt = eio_packet.Packet(encoded_packet=data)
            except (ValueError, TypeError, IndexError) as exc:
                # Counted and logged (at most once every LOG_EVERY s), never a
                # traceback; the connection ends, as the protocol says.
                _undecodable(self.sid, exc)
                return
            try:
                self.receive(pkt)
            except engineio.exceptions.UnknownPacketError:
                pass
            except engineio.exceptions.SocketIsClosedError:
                return
            except Exception:  # noqa: BLE001
                self.server.logger.exception("Unknown receive error")
                return


class WholeFrameSocket(BoundedQueueSocket):
    """threading (and any WebSocket but simple-websocket's plain one under gevent):
    python-engineio's own writer, each frame written whole.

    Their WebSocket is simple-websocket's (1.1), which writes a frame with one
    `socket.send()`: a socket whose buffer is nearly full takes part of the
    frame, the rest is dropped and the next frame starts in the middle of it,
    which the client reads as garbage (tests/integration/test_realtime_cluster.py,
    a client that stops reading). Here the frame goes out with `sendall()`.
    """

    _connection = None  # simple-websocket's, once on WebSocket

    def _websocket_handler(self, ws):
        self._connection = _whole_frames(ws, self.server.max_http_buffer_size)
        return super()._websocket_handler(ws)

    def _abandon_transport(self):
        _shut_down_connection(self._connection)


def _whole_frames(ws, max_message):
    """Makes `ws` (python-engineio's simple-websocket wrapper) write whole frames
    and count what it reads (_MessageSizeLimit); returns simple-websocket's
    connection, or None for another kind of WebSocket."""
    import simple_websocket.ws

    connection = getattr(ws, "ws", None)
    if not isinstance(connection, simple_websocket.ws.Base):
        return None
    # Before simple-websocket's reading thread first runs (gevent: it has not
    # been switched to yet; threads: at most the one read it is in is not counted).
    connection.ws = _MessageSizeLimit(connection.ws, max_message, connection)
    ws.send = functools.partial(_send_whole_frame, connection)
    return connection


class _MessageSizeLimit:
    """wsproto's connection as simple-websocket's reading thread sees it: the
    pieces of each data message added up in bytes as they arrive (wsproto hands
    a frame over in pieces, as read, whatever length its header announces);
    past `limit`, what comes instead is a close with code 1009, which
    simple-websocket answers with the same and then ends the connection. Its
    own `max_message_size` would count characters of text (up to four bytes each).

    And while MAX_WAITING_MESSAGES whole messages wait in `reader`'s input
    buffer (simple-websocket's connection; python-engineio's reader takes one
    message at a time) and it is open, the reading thread stops reading: the
    client's data waits in the kernel, not in the worker (the thread reads as
    long as data is there, and a client sending faster than the reader handles
    would fill the buffer)."""

    def __init__(self, connection, limit, reader):
        self._connection = connection
        self._limit = limit
        self._size = 0
        self._reader = reader

    def events(self):
        from wsproto.events import BytesMessage, CloseConnection, TextMessage

        for event in self._connection.events():
            while len(self._reader.input_buffer) >= MAX_WAITING_MESSAGES and self._reader.connected:
                time.sleep(0.005)  # a green thread's sleep (gevent's worker patched time)
            if isinstance(event, (TextMessage, BytesMessage)):
                data = event.data
                if isinstance(data, str) and not data.isascii():
                    data = data.encode()
                self._size += len(data)
                if self._size > self._limit:
                    STATS["too_large"] += 1
                    yield CloseConnection(1009, "Message is too big")
                    return
                if event.message_finished:
                    self._size = 0
            yield event

    def __getattr__(self, name):
        return getattr(self._connection, name)


def _shut_down_connection(connection):
    if connection is not None:
        try:  # the writer's sendall() fails, the reader's wait ends
            connection.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


class GeventDirectSocket(DirectSocket):
    """gevent: frames written by the sender, as DirectSocket does under eventlet.

    The WebSocket is simple-websocket's, which reads in a thread of its own
    (a green thread here) and writes its own frames (pongs, close replies)
    with `sock.send()`. Once the socket is written directly, that `sock` is
    a `_WritesInOrder`, so those frames too go through `_write`, in order with
    the rest. A frame is packed here, once per packet for every socket of a
    room (`_server_frame`), unless the connection negotiated an extension
    (permessage-deflate): then simple-websocket's wsproto packs it for each
    socket. Other kinds of WebSocket (none under gunicorn's gevent worker) get
    WholeFrameSocket's writer.
    """

    _connection = None  # simple-websocket's, once on WebSocket

    def _websocket_handler(self, ws):
        self._connection = connection = _whole_frames(ws, self.server.max_http_buffer_size)
        raw = getattr(getattr(connection, "sock", None), "_sock", None)
        if (
            connection is None
            or not isinstance(raw, _socket.socket)
            or isinstance(raw, ssl.SSLSocket)
        ):
            return _LibrarySocket._websocket_handler(self, ws)
        writer = _GeventWriter(connection)

        def taken_over():
            connection.sock = _WritesInOrder(connection.sock, self._write)

        return self._serve(ws, writer, taken_over)

    def _wait_readable(self):
        pass  # simple-websocket's own thread reads; receive() waits for it

    def _abandon_transport(self):
        if self._ws is None:  # still on the library's writer
            _shut_down_connection(self._connection)
        else:
            super()._abandon_transport()


class _GeventWriter:
    """simple-websocket's connection as DirectSocket writes through it: the names
    of eventlet's WebSocket that DirectSocket uses, over a gevent socket."""

    def __init__(self, connection: Any) -> None:
        import gevent.lock

        self.connection = connection
        self.socket = _GeventSocketView(connection.sock)
        self._sendlock = gevent.lock.Semaphore()
        negotiated = connection.ws.connection._proto.extensions
        self.extensions = {e.name: e for e in negotiated if e.enabled()}

    def _pack_message(self, data):
        if not self.extensions:
            return _server_frame(data)
        return self.connection.ws.send(_wsproto_message(data))  # compressed for this socket

    def _send_closing_frame(self, ignore_send_errors=False):
        try:
            self.connection.close()  # through _WritesInOrder, so through _write
        except Exception:  # noqa: BLE001  (closed already, or the socket is gone)
            if not ignore_send_errors:
                raise


class _GeventSocketView:
    """`fd`: the non-blocking socket under gevent's (DirectSocket's send() that
    never waits); `sendall`: gevent's, which waits in the flushing green thread."""

    def __init__(self, sock: Any) -> None:
        self.fd = sock._sock
        self.sendall = sock.sendall


class _WritesInOrder:
    """simple-websocket's socket once the Engine.IO socket writes directly: what its
    own thread sends (pongs, close frames) goes through the same `_write` as the
    rest; everything else is the socket's."""

    def __init__(self, sock: Any, write: Callable[[bytes], int]) -> None:
        self._sock = sock
        self._write = write

    def send(self, data: bytes, flags: int = 0) -> int:
        self._write(bytes(data))
        return len(data)

    sendall = send

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


def _server_frame(data):
    """A whole, unmasked WebSocket frame (RFC 6455 5.2) with `data`: text for a
    str, binary for bytes."""
    if isinstance(data, str):
        data, first = data.encode(), 0x81  # FIN, text
    else:
        first = 0x82  # FIN, binary
    size = len(data)
    if size < 126:
        return bytes((first, size)) + data
    if size < 65536:
        return struct.pack("!BBH", first, 126, size) + data
    return struct.pack("!BBQ", first, 127, size) + data


def _wsproto_message(data):
    from wsproto.events import BytesMessage, TextMessage

    return BytesMessage(data=data) if isinstance(data, bytes) else TextMessage(data=data)


def _send_whole_frame(connection, data):
    if not connection.connected:
        raise OSError("the WebSocket is closed")
    connection.sock.sendall(connection.ws.send(_wsproto_message(data)))


class _SocketInput:
    """What eventlet's WebSocket takes the connection's socket from (environ["eventlet.input"])."""

    __slots__ = ("socket",)

    def __init__(self, sock: Any) -> None:
        self.socket = sock

    def get_socket(self) -> Any:
        return self.socket


def socket_as_eventlet_input(wsgi_app: "WSGIApplication") -> "WSGIApplication":
    """WSGI middleware for gunicorn's eventlet worker: gives the connection's socket
    to eventlet's WebSocket as environ["eventlet.input"] itself.

    python-engineio's middleware does this whenever it sees environ["gunicorn.socket"],
    with a class it defines anew on every request, which costs CPU on every request
    and memory held by every open WebSocket (tracemalloc). Taking the key away
    first leaves it nothing to do."""

    def with_eventlet_input(environ: "WSGIEnvironment", start_response: "StartResponse") -> Any:
        sock = environ.pop("gunicorn.socket", None)
        if sock is not None:
            environ["eventlet.input"] = _SocketInput(sock)
        return wsgi_app(environ, start_response)

    return with_eventlet_input


def unmask(
    data: bytes, mask: bytes | Sequence[int], length: int | None = None, offset: int = 0
) -> bytes:
    """What eventlet's `RFC6455WebSocket._apply_mask` returns: the first `length`
    bytes of `data` XORed with the 4-byte `mask`, starting at the mask's byte
    `offset % 4` (a frame read in pieces), done as one XOR of two integers."""
    if length is None:
        length = len(data)
    if length <= 0:
        return b""
    key = bytes(mask[(offset + i) % 4] for i in range(4)) * (length // 4 + 1)
    return (
        int.from_bytes(data[:length], "little") ^ int.from_bytes(key[:length], "little")
    ).to_bytes(length, "little")


_PING = eio_packet.Packet(eio_packet.PING)  # every ping sent; its frame is packed once
SERVICE_BATCH = 1000  # sockets the missed-pong pass looks at between two yields


class _PingWheel:
    """The sockets of one Engine.IO server waiting for their next ping, in slots
    of `tick` seconds, and the one green thread that sends each slot's pings when
    it is due (never before the ping interval has passed, at most a tick after).

    A tick is a quarter second, or a quarter of the ping timeout if that is
    shorter: a polling client's long poll waits ping interval + ping timeout for
    the ping, and python-engineio closes the session if nothing came by then."""

    TICK = 0.25

    def __init__(self, server: Any) -> None:
        self.server = server
        self.tick = min(self.TICK, server.ping_timeout / 4)
        self.slots: dict[int, list[Any]] = {}
        self.running = False

    def add(self, sock: Any) -> None:
        due = time.monotonic() + self.server.ping_interval
        self.slots.setdefault(-int(-due // self.tick), []).append(sock)
        if not self.running:
            self.running = True
            self.server.start_background_task(self._run)

    def _run(self) -> None:
        done = int(time.monotonic() // self.tick)  # every slot up to this one is sent
        while True:
            self.server.sleep(self.tick)
            now = int(time.monotonic() // self.tick)
            for slot in range(done + 1, now + 1):
                for sock in self.slots.pop(slot, ()):
                    try:
                        sock.send_ping()
                    except Exception:  # noqa: BLE001  (one socket's failure is not the others')
                        log.exception("could not ping %s", getattr(sock, "sid", "?"))
            done = now


def _ping_wheel(server: Any) -> _PingWheel:
    wheel = server.__dict__.get("_chat_ping_wheel")
    if wheel is None:
        wheel = server._chat_ping_wheel = _PingWheel(server)
    return wheel


def _service_task(self: Any) -> None:
    """python-engineio's Server._service_task, in one pass over the sockets each
    ping timeout (yielding every SERVICE_BATCH sockets): closes the clients that
    did not answer a ping within the timeout, and forgets the sockets that
    closed. (A pass more often would close a client whose pong is a little late
    sooner than the library does.)"""
    self.service_task_event = self.create_event()
    while not self.service_task_event.wait(timeout=self.ping_timeout):
        try:
            for n, sock in enumerate(list(self.sockets.values())):
                if sock.closed:
                    self.sockets.pop(sock.sid, None)
                elif not sock.closing:
                    sock.check_ping_timeout()
                if n % SERVICE_BATCH == SERVICE_BATCH - 1:
                    self.sleep(0)
        except Exception:  # noqa: BLE001  (as the library's: log it and go on)
            self.logger.exception("service task exception")
    self.logger.info("service task canceled")


def install(async_mode: str, max_unsent_bytes: int = MAX_UNSENT_BYTES) -> None:
    """New Engine.IO connections in this process get DirectSocket (eventlet),
    GeventDirectSocket (gevent) or WholeFrameSocket (threading), each dropped
    past `max_unsent_bytes` waiting; eventlet's WebSockets unmask with `unmask`."""
    global MAX_UNSENT_BYTES
    MAX_UNSENT_BYTES = max_unsent_bytes
    engineio.socket.Socket = {"eventlet": DirectSocket, "gevent": GeventDirectSocket}.get(
        async_mode, WholeFrameSocket
    )
    engineio.Server._service_task = _service_task
    if async_mode == "eventlet":
        from eventlet.websocket import RFC6455WebSocket

        RFC6455WebSocket._apply_mask = staticmethod(unmask)
        if not getattr(RFC6455WebSocket.Message, "counts_pieces", False):
            RFC6455WebSocket.Message = _counted_message_class(RFC6455WebSocket.Message)


def _counted_message_class(message_class):
    """eventlet's RFC6455WebSocket.Message, whose pieces (the frames of a fragmented
    message, each frame as read) are added up as they arrive: past the largest
    frame (python-engineio makes it max_http_buffer_size), the connection is
    failed with close code 1009. eventlet checks each frame's announced length
    but keeps every frame of a message, however many."""
    from eventlet.websocket import FailedConnectionError

    class CountedMessage(message_class):
        counts_pieces = True
        size = 0

        def push(self, data, final=False):
            self.size += len(data)
            if self.size > self.max_frame_length:
                STATS["too_large"] += 1
                raise FailedConnectionError(
                    1009, f"Message is over the limit of {self.max_frame_length} bytes."
                )
            super().push(data, final)

    return CountedMessage
