"""Engine.IO v4 on the wire, for the protocol tests: raw HTTP long-polling (requests)
and raw WebSocket frames (websocket-client), with no Engine.IO or Socket.IO client
library in between.

Both clients answer the server's heartbeat (a "2" ping gets a "3" pong) while they
wait for other packets, unless told not to: the heartbeat here is 300 ms, and a
test on a loaded machine may take longer than that."""

import base64
import json
import os
import socket
import struct
import threading
import time
import zlib

import requests
import websocket

SEPARATOR = "\x1e"  # between the packets of a polling payload (Engine.IO v4)
HTTP_TIMEOUT = 5  # seconds; a long poll ends by itself within pingInterval
WS_TIMEOUT = 5


class Closed(Exception):
    """The server ended the WebSocket connection (a close frame or end of stream)."""


def split_payload(body: str) -> list[str]:
    return body.split(SEPARATOR) if body else []


class Polling:
    """One Engine.IO session over HTTP long-polling."""

    def __init__(self, url: str, sid: str | None = None) -> None:
        self.url = url
        self.sid = sid
        self.handshake: dict = {}

    def query(self, **extra: str) -> dict:
        params = {"EIO": "4", "transport": "polling", **extra}
        if self.sid is not None:
            params["sid"] = self.sid
        return params

    def open(self) -> dict:
        """GET without a sid: the OPEN packet's handshake, whose sid this session keeps."""
        response = requests.get(self.url, params=self.query(), timeout=HTTP_TIMEOUT)
        assert response.status_code == 200, response.text
        assert response.text.startswith("0"), response.text
        self.handshake = json.loads(response.text[1:])
        self.sid = self.handshake["sid"]
        return self.handshake

    def get(self, **extra: str) -> requests.Response:
        return requests.get(self.url, params=self.query(**extra), timeout=HTTP_TIMEOUT)

    def post(self, body: str | bytes, **extra: str) -> requests.Response:
        return requests.post(self.url, params=self.query(**extra), data=body, timeout=HTTP_TIMEOUT)

    def pong(self) -> None:
        response = self.post("3")
        assert response.status_code == 200, response.text

    def receive(self, count: int = 1, answer_pings: bool = True) -> list[str]:
        """The next `count` packets from GETs, pings answered and left out."""
        packets: list[str] = []
        deadline = time.monotonic() + HTTP_TIMEOUT
        while len(packets) < count:
            assert time.monotonic() < deadline, f"only {packets!r} within {HTTP_TIMEOUT}s"
            response = self.get()
            assert response.status_code == 200, response.text
            for pkt in split_payload(response.text):
                if pkt == "2" and answer_pings:
                    self.pong()
                else:
                    packets.append(pkt)
        return packets

    def get_in_background(self) -> "PendingGet":
        return PendingGet(self)


class PendingGet:
    """A GET (a long poll) sent from a thread, to be answered while the test does more."""

    def __init__(self, session: Polling) -> None:
        self.response: requests.Response | None = None
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(session,), daemon=True)
        self._thread.start()
        time.sleep(0.05)  # the request reaches the server first

    def _run(self, session: Polling) -> None:
        try:
            self.response = session.get()
        except BaseException as exc:  # noqa: BLE001  (re-raised by result())
            self.error = exc

    def result(self) -> requests.Response:
        self._thread.join(HTTP_TIMEOUT + 1)
        if self.error is not None:
            raise self.error
        assert self.response is not None, "the long poll was not answered"
        return self.response


class WebSocket:
    """One raw WebSocket connection to the server's Engine.IO endpoint."""

    def __init__(self, ws_url: str, sid: str | None = None, **extra: str) -> None:
        query = "EIO=4&transport=websocket" + (f"&sid={sid}" if sid else "")
        query += "".join(f"&{k}={v}" for k, v in extra.items())
        self.ws = websocket.create_connection(f"{ws_url}?{query}", timeout=WS_TIMEOUT)

    def open(self) -> dict:
        """The OPEN packet a new session over WebSocket starts with: its handshake."""
        first = self.recv(answer_pings=False)
        assert isinstance(first, str) and first.startswith("0"), first
        return json.loads(first[1:])

    def send(self, data: str | bytes) -> None:
        if isinstance(data, bytes):
            self.ws.send_binary(data)
        else:
            self.ws.send(data)

    def recv(
        self, answer_pings: bool = True, timeout: float = WS_TIMEOUT, skip_noops: bool = False
    ) -> str | bytes:
        """The next message (text as str, binary as bytes); Closed if the server ends the
        connection. With skip_noops, NOOP packets ("6") are left out."""
        deadline = time.monotonic() + timeout
        while True:
            self.ws.settimeout(max(deadline - time.monotonic(), 0.001))
            try:
                opcode, data = self.ws.recv_data()
            except websocket.WebSocketConnectionClosedException as exc:
                raise Closed() from exc
            except (ConnectionError, OSError) as exc:
                if isinstance(exc, websocket.WebSocketTimeoutException):
                    raise
                raise Closed() from exc
            if opcode == websocket.ABNF.OPCODE_CLOSE or (opcode is None and not data):
                raise Closed()
            if opcode == websocket.ABNF.OPCODE_BINARY:
                return bytes(data)
            text = data.decode("utf-8")
            if text == "2" and answer_pings:
                self.ws.send("3")
                continue
            if text == "6" and skip_noops:
                continue
            return text

    def recv_many(self, count: int) -> list[str | bytes]:
        return [self.recv() for _ in range(count)]

    def closed_within(self, seconds: float, answer_pings: bool = True) -> list[str | bytes]:
        """What the server sends until it ends the connection, which must be within
        `seconds`; fails otherwise."""
        seen: list[str | bytes] = []
        deadline = time.monotonic() + seconds
        while True:
            left = deadline - time.monotonic()
            assert left > 0, f"still open after {seconds}s (received {seen!r})"
            try:
                seen.append(self.recv(answer_pings=answer_pings, timeout=left))
            except Closed:
                return seen
            except websocket.WebSocketTimeoutException:
                continue

    def idle(self, seconds: float) -> list[str | bytes]:
        """Waits `seconds`, answering pings; returns whatever else came meanwhile."""
        seen: list[str | bytes] = []
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            try:
                seen.append(self.recv(timeout=left))
            except websocket.WebSocketTimeoutException:
                break
        return seen

    def close(self) -> None:
        try:
            self.ws.close(timeout=1)
        except (OSError, websocket.WebSocketException):
            pass


class DeflateWebSocket:
    """A WebSocket that negotiates permessage-deflate (RFC 7692), which websocket-client
    does not: the handshake and frames written and read here, on a plain socket."""

    def __init__(self, host: str, port: int, path: str) -> None:
        self.sock = socket.create_connection((host, port), timeout=WS_TIMEOUT)
        key = base64.b64encode(os.urandom(16)).decode()
        request = (
            f"GET {path}?EIO=4&transport=websocket HTTP/1.1\r\n"
            f"Host: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
            "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\r\n"
        )
        self.sock.sendall(request.encode())
        self._buffer = b""
        while b"\r\n\r\n" not in self._buffer:
            self._fill()
        head, self._buffer = self._buffer.split(b"\r\n\r\n", 1)
        self.response_head = head.decode("latin-1")
        self._inflate = zlib.decompressobj(-zlib.MAX_WBITS)
        self._deflate = zlib.compressobj(wbits=-zlib.MAX_WBITS)
        self.last_compressed = False

    @property
    def extensions(self) -> str:
        for line in self.response_head.split("\r\n"):
            name, _, value = line.partition(":")
            if name.strip().lower() == "sec-websocket-extensions":
                return value.strip()
        return ""

    def _fill(self) -> None:
        data = self.sock.recv(65536)
        if not data:
            raise Closed()
        self._buffer += data

    def _take(self, count: int) -> bytes:
        while len(self._buffer) < count:
            self._fill()
        data, self._buffer = self._buffer[:count], self._buffer[count:]
        return data

    def recv_frame(self) -> tuple[bool, int, bytes]:
        """(compressed, opcode, payload as sent) of the next frame."""
        first, second = self._take(2)
        length = second & 0x7F
        if length == 126:
            (length,) = struct.unpack("!H", self._take(2))
        elif length == 127:
            (length,) = struct.unpack("!Q", self._take(8))
        assert not second & 0x80, "a server's frames are not masked"
        assert first & 0x80, "a fragmented message"
        return bool(first & 0x40), first & 0x0F, self._take(length)

    def recv(self) -> str:
        """The next text message, inflated if it came compressed (last_compressed says
        whether it did); pings answered."""
        while True:
            compressed, opcode, payload = self.recv_frame()
            self.last_compressed = compressed
            if compressed:
                payload = self._inflate.decompress(payload + b"\x00\x00\xff\xff")
            if opcode == 0x8:
                raise Closed()
            assert opcode == 0x1, f"opcode {opcode}"
            text = payload.decode("utf-8")
            if text == "2":
                self.send("3")
                continue
            return text

    def send(self, text: str, compress: bool = False) -> None:
        payload = text.encode()
        first = 0x81
        if compress:
            payload = self._deflate.compress(payload) + self._deflate.flush(zlib.Z_SYNC_FLUSH)
            payload = payload[:-4]  # without the 00 00 ff ff the sync flush ends with
            first |= 0x40
        mask = os.urandom(4)
        length = len(payload)
        if length < 126:
            header = bytes((first, 0x80 | length))
        elif length < 65536:
            header = bytes((first, 0x80 | 126)) + struct.pack("!H", length)
        else:
            header = bytes((first, 0x80 | 127)) + struct.pack("!Q", length)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.sock.sendall(header + mask + masked)

    def close(self) -> None:
        self.sock.close()
