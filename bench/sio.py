"""A minimal Socket.IO v5 / Engine.IO v4 client over WebSocket, for load generation.

One asyncio.Protocol per connection, no task per connection and no thread: the
WebSocket framing is parsed straight from the socket's bytes, so one process
holds thousands of sockets. It speaks only what the bench needs: a WebSocket
connection without long-polling (`transport=websocket`), the default
namespace, events with acknowledgements, and answering the server's pings.

Packets (Engine.IO type, then Socket.IO type, then optional ack id, then JSON):
    0{...}          Engine.IO open (server)        2 / 3   ping / pong
    40{"token":..}  Socket.IO connect with auth    40{"sid":..}  connected
    44{...}         connect error                  42["ev",{...}]  event
    4212["ev",{..}] event asking for ack 12        4312[{...}]     ack 12
"""

import asyncio
import base64
import json
import os
import random
import time

_JSON = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)


class ConnectError(Exception):
    """The server refused the Socket.IO connection (or the handshake failed)."""


# --- packets (pure functions, unit-tested) -----------------------------------


def encode_event(event, data=None, ack_id=None):
    """The Engine.IO message carrying a Socket.IO EVENT, as text."""
    args = [event] if data is None else [event, data]
    return "42" + ("" if ack_id is None else str(ack_id)) + _JSON.encode(args)


def encode_connect(auth=None):
    return "40" + ("" if auth is None else _JSON.encode(auth))


def decode_packet(text):
    """Splits an Engine.IO text packet.

    Returns (eio_type, sio_type, namespace, ack_id, data): sio_type, namespace,
    ack_id and data are None where the packet has none; data is decoded JSON.
    """
    if not text:
        raise ValueError("empty packet")
    eio = int(text[0])
    if eio != 4:
        rest = text[1:]
        return eio, None, None, None, (json.loads(rest) if rest.startswith("{") else rest or None)
    if len(text) < 2:
        raise ValueError("message packet without a Socket.IO type")
    sio = int(text[1])
    pos = 2
    if sio in (5, 6):  # binary packets: <count>- prefix; the bench never uses them
        dash = text.index("-", pos)
        pos = dash + 1
    namespace = "/"
    if pos < len(text) and text[pos] == "/":
        comma = text.find(",", pos)
        end = len(text) if comma < 0 else comma
        namespace = text[pos:end]
        pos = end + 1 if comma >= 0 else end
    start = pos
    while pos < len(text) and text[pos].isdigit():
        pos += 1
    ack_id = int(text[start:pos]) if pos > start else None
    rest = text[pos:]
    data = json.loads(rest) if rest else None
    return eio, sio, namespace, ack_id, data


# How socket.io-client spaces its reconnection attempts (its defaults).
RECONNECT_DELAY = 1.0  # reconnectionDelay
RECONNECT_DELAY_MAX = 5.0  # reconnectionDelayMax
RANDOMIZATION = 0.5  # randomizationFactor


def reconnect_pauses():
    """The waits before each reconnection attempt, as socket.io-client makes them:
    the first after 0.5-1.5 s, then doubling up to 5 s, each randomised by half."""
    delay = RECONNECT_DELAY
    while True:
        yield delay + delay * RANDOMIZATION * (2 * random.random() - 1)
        delay = min(delay * 2, RECONNECT_DELAY_MAX)


def find_string_field(payload, key):
    """The value of a string field `key` in a JSON text (bytes), without parsing it.

    Works on the flat message objects both servers emit (`"client_id": "..."`
    or `"client_id":"..."`); None if the field is absent or not a string. Used
    on the hot path of receivers, where a full json.loads per delivery would
    make the load generator the bottleneck.
    """
    marker = b'"' + key + b'":'
    i = payload.find(marker)
    if i < 0:
        return None
    i += len(marker)
    if payload[i : i + 1] == b" ":
        i += 1
    if payload[i : i + 1] != b'"':
        return None
    end = payload.find(b'"', i + 1)
    return None if end < 0 else payload[i + 1 : end]


def first_int_field(payload: bytes, key: bytes) -> int | None:
    """The first integer field `key` in a JSON text, without parsing it."""
    marker = b'"' + key + b'":'
    i = payload.find(marker)
    if i < 0:
        return None
    i += len(marker)
    while payload[i : i + 1] == b" ":
        i += 1
    j = i
    while payload[j : j + 1].isdigit():
        j += 1
    return int(payload[i:j]) if j > i else None


# --- WebSocket framing ---------------------------------------------------------


def ws_frame(payload, opcode=0x1, mask=None):
    """A client (masked) WebSocket frame with FIN set."""
    if isinstance(payload, str):
        payload = payload.encode()
    mask = os.urandom(4) if mask is None else mask
    n = len(payload)
    if n < 126:
        header = bytes((0x80 | opcode, 0x80 | n))
    elif n < 65536:
        header = bytes((0x80 | opcode, 0x80 | 126)) + n.to_bytes(2, "big")
    else:
        header = bytes((0x80 | opcode, 0x80 | 127)) + n.to_bytes(8, "big")
    if n:
        key = int.from_bytes((mask * (n // 4 + 1))[:n], "big")
        payload = (int.from_bytes(payload, "big") ^ key).to_bytes(n, "big")
    return header + mask + payload


def parse_frames(buf):
    """Complete frames at the start of `buf` (a bytearray), which loses them.

    Yields (fin, opcode, payload). Server frames are unmasked; a masked one is
    unmasked anyway.
    """
    pos = 0
    n = len(buf)
    out = []
    while n - pos >= 2:
        b0 = buf[pos]
        b1 = buf[pos + 1]
        length = b1 & 0x7F
        hdr = 2
        if length == 126:
            if n - pos < 4:
                break
            length = int.from_bytes(buf[pos + 2 : pos + 4], "big")
            hdr = 4
        elif length == 127:
            if n - pos < 10:
                break
            length = int.from_bytes(buf[pos + 2 : pos + 10], "big")
            hdr = 10
        masked = b1 & 0x80
        if masked:
            hdr += 4
        end = pos + hdr + length
        if end > n:
            break
        payload = bytes(buf[pos + hdr : end])
        if masked and length:
            mask = buf[pos + hdr - 4 : pos + hdr]
            key = int.from_bytes((bytes(mask) * (length // 4 + 1))[:length], "big")
            payload = (int.from_bytes(payload, "big") ^ key).to_bytes(length, "big")
        out.append((bool(b0 & 0x80), b0 & 0x0F, payload))
        pos = end
    if pos:
        del buf[:pos]
    return out


# --- the client ------------------------------------------------------------------


class SioClient(asyncio.Protocol):
    """One Socket.IO connection.

    on_message(client, raw_bytes): called for every `message` event, with the raw
    Engine.IO packet (b'42["message",{...}]'), unparsed. on_event(client, name,
    data): any other event, parsed. on_close(client): after the connection is lost.
    """

    def __init__(
        self,
        host,
        port,
        auth=None,
        path="/socket.io/",
        on_message=None,
        on_event=None,
        on_close=None,
        tag=None,
    ):
        self.host, self.port, self.auth, self.path = host, port, auth, path
        self.on_message, self.on_event, self.on_close = on_message, on_event, on_close
        self.tag = tag
        self.transport = None
        self._buf = bytearray()
        self._handshaking = True
        self._fragments = None
        self._acks = {}
        self._next_ack = 0
        self.loop = asyncio.get_event_loop()
        self.connected = self.loop.create_future()
        self.closed = self.loop.create_future()
        self.sid = None
        self.upgrade_headers = {}

    # asyncio.Protocol

    def connection_made(self, transport):
        self.transport = transport
        key = base64.b64encode(os.urandom(16)).decode()
        transport.write(
            (
                f"GET {self.path}?EIO=4&transport=websocket HTTP/1.1\r\n"
                f"Host: {self.host}:{self.port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )

    def data_received(self, data):
        buf = self._buf
        buf += data
        if self._handshaking:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(buf[:end]).decode("latin-1").split("\r\n")
            del buf[: end + 4]
            self._handshaking = False
            status = head[0].split(" ", 2)
            for line in head[1:]:
                name, _, value = line.partition(":")
                self.upgrade_headers[name.strip().lower()] = value.strip()
            if len(status) < 2 or status[1] != "101":
                self._fail(ConnectError(f"WebSocket upgrade refused: {head[0]}"))
                self.transport.close()
                return
        for fin, opcode, payload in parse_frames(buf):
            if opcode == 0x0:
                if self._fragments is None:
                    continue
                self._fragments.append(payload)
                if not fin:
                    continue
                payload = b"".join(self._fragments)
                self._fragments = None
                opcode = 0x1
            elif not fin:
                self._fragments = [payload]
                continue
            if opcode == 0x1:
                self._packet(payload)
            elif opcode == 0x9:
                self.transport.write(ws_frame(payload, 0xA))
            elif opcode == 0x8:
                self.transport.close()
                return

    def connection_lost(self, exc):
        self._fail(ConnectionError("connection lost"))
        for fut in self._acks.values():
            if not fut.done():
                fut.set_exception(ConnectionError("connection lost"))
        self._acks.clear()
        if not self.closed.done():
            self.closed.set_result(time.monotonic())
        if self.on_close is not None:
            self.on_close(self)

    # Engine.IO / Socket.IO

    def _packet(self, payload):
        kind = payload[:2]
        if kind == b"42":
            if payload.startswith(b'42["message",'):
                if self.on_message is not None:
                    self.on_message(self, payload)
                return
            _, _, _, _, data = decode_packet(payload.decode())
            if self.on_event is not None and data:
                self.on_event(self, data[0], data[1] if len(data) > 1 else None)
            return
        if kind == b"43":
            _, _, _, ack_id, data = decode_packet(payload.decode())
            fut = self._acks.pop(ack_id, None)
            if fut is not None and not fut.done():
                fut.set_result(data[0] if data else None)
            return
        first = payload[:1]
        if first == b"2":
            self.transport.write(ws_frame(b"3" + payload[1:]))
        elif first == b"0":
            self.transport.write(ws_frame(encode_connect(self.auth)))
        elif kind == b"40":
            _, _, _, _, data = decode_packet(payload.decode())
            self.sid = (data or {}).get("sid")
            if not self.connected.done():
                self.connected.set_result(self)
        elif kind == b"44":
            _, _, _, _, data = decode_packet(payload.decode())
            self._fail(ConnectError(f"connect refused: {data}"))
            self.transport.close()
        elif first == b"1" or kind == b"41":
            self.transport.close()

    def _fail(self, exc):
        if not self.connected.done():
            self.connected.set_exception(exc)
            self.connected.exception()  # mark retrieved: callers may have given up

    # API

    @property
    def is_open(self):
        return self.connected.done() and not self.connected.exception() and not self.closed.done()

    def emit(self, event, data=None):
        self.transport.write(ws_frame(encode_event(event, data)))

    def call(self, event, data=None):
        """Emit asking for an ack; returns a future of the ack's first argument."""
        self._next_ack += 1
        ack_id = self._next_ack
        fut = self.loop.create_future()
        if self.closed.done():
            fut.set_exception(ConnectionError("connection lost"))
            return fut
        self._acks[ack_id] = fut
        self.transport.write(ws_frame(encode_event(event, data, ack_id)))
        return fut

    def close(self):
        if self.transport is not None and not self.transport.is_closing():
            try:
                self.transport.write(ws_frame(b"41"))
            except Exception:
                pass
            self.transport.close()


async def connect(host, port, auth=None, source=None, timeout=10.0, **kwargs):
    """Opens a Socket.IO connection (from `source`, an IPv4 address, if given)."""
    loop = asyncio.get_running_loop()
    client = SioClient(host, port, auth=auth, **kwargs)
    try:
        await asyncio.wait_for(
            loop.create_connection(
                lambda: client, host, port, local_addr=(source, 0) if source else None
            ),
            timeout,
        )
        await asyncio.wait_for(asyncio.shield(client.connected), timeout)
    except BaseException:
        if client.transport is not None:
            client.transport.abort()
        raise
    return client
