"""app/library_hooks checked by behaviour against the real libraries.

Engine.IO: a bare Engine.IO server (library_hooks_app.py) served by gunicorn's
real eventlet and gevent workers, with the hooks installed and with the stock
libraries; a client written here speaks WebSocket on a raw socket, so every
frame the server sends is read off the wire as bytes. Both stacks must give
the same answers (the Engine.IO v4 protocol: handshake, messages text and
binary, heartbeat, close, upgrade from polling); the hooked one must also
write its WebSockets itself (its counters), drop a client that does not read,
and answer a request gunicorn cannot read in the API's JSON error shape.

The message queues: python-socketio servers on the two managers
(ShardedRedisManager, ChatRedisManager) with a real Redis, each on a real HTTP
server, with real Socket.IO clients: emits to a room, to one socket and to
everyone cross from one server to the other, a socket on one server is put in
a room by the other, an ack comes back across, and after a Redis restart the
classic listener is back within about a second.

A release of a pinned library that changes what a hook relies on fails here.
"""

import base64
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import urllib.request

import pytest
from localservices import Redis, free_port, wait_for_port

pytestmark = pytest.mark.integration

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HERE = os.path.dirname(os.path.abspath(__file__))
GUNICORN = os.path.join(os.path.dirname(sys.executable), "gunicorn")
MAX_UNSENT = 256 * 1024
PING_INTERVAL = 1.0
PING_TIMEOUT = 1.0


# --- a WebSocket client on a raw socket ------------------------------------------


class Frame:
    def __init__(self, fin, opcode, masked, payload):
        self.fin, self.opcode, self.masked, self.payload = fin, opcode, masked, payload

    @property
    def text(self):
        assert self.opcode == 1, self.opcode
        return self.payload.decode("utf-8")

    def __repr__(self):
        return f"<Frame fin={self.fin} op={self.opcode} masked={self.masked} {self.payload[:40]!r}>"


class RawWebSocket:
    """RFC 6455 by hand: the upgrade request, masked frames out, frames in as sent."""

    def __init__(self, port, path, timeout=10):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall(
            (
                f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                "Sec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )
        self.buffer = b""
        while b"\r\n\r\n" not in self.buffer:
            chunk = self.sock.recv(65536)
            assert chunk, "closed during the upgrade"
            self.buffer += chunk
        head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
        self.status_line = head.split(b"\r\n")[0].decode()
        assert " 101 " in self.status_line, head

    def send(self, data, opcode=None):
        payload = data.encode() if isinstance(data, str) else data
        opcode = opcode or (1 if isinstance(data, str) else 2)
        mask = os.urandom(4)
        n = len(payload)
        if n < 126:
            head = struct.pack("!BB", 0x80 | opcode, 0x80 | n)
        elif n < 65536:
            head = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, n)
        else:
            head = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, n)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.sock.sendall(head + mask + masked)

    def _take(self, n):
        while len(self.buffer) < n:
            chunk = self.sock.recv(max(65536, n - len(self.buffer)))
            if not chunk:
                raise EOFError("connection closed")
            self.buffer += chunk
        taken, self.buffer = self.buffer[:n], self.buffer[n:]
        return taken

    def frame(self, timeout=10):
        self.sock.settimeout(timeout)
        first, second = self._take(2)
        n = second & 0x7F
        if n == 126:
            (n,) = struct.unpack("!H", self._take(2))
        elif n == 127:
            (n,) = struct.unpack("!Q", self._take(8))
        mask = self._take(4) if second & 0x80 else None
        payload = self._take(n)
        if mask:
            payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        return Frame(bool(first & 0x80), first & 0x0F, mask is not None, payload)

    def data_frame(self, timeout=10):
        """The next frame that is not a WebSocket ping or pong."""
        while True:
            frame = self.frame(timeout)
            if frame.opcode not in (9, 10):
                return frame

    def wait_closed(self, timeout):
        """Until the server closes: its Close frame (RFC 6455 5.5.1: the client
        answers it, the server then ends the TCP connection) or the end of the
        connection without one. Fails if a data frame or nothing comes first."""
        deadline = time.monotonic() + timeout
        try:
            while True:
                frame = self.frame(timeout=max(0.01, deadline - time.monotonic()))
                if frame.opcode == 8:
                    self.send(frame.payload[:2], opcode=8)
                    return
                assert frame.opcode in (1, 9, 10) and frame.payload in (b"2", b""), frame
        except (EOFError, ConnectionResetError):
            return

    def close(self):
        self.sock.close()


# --- the Engine.IO server under gunicorn ----------------------------------------


class EngineServer:
    def __init__(self, mode, hooks, tmp_dir):
        self.mode, self.hooks = mode, hooks
        self.port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("HOOKS")}
        env.update(
            HOOKS_ASYNC_MODE=mode,
            HOOKS="1" if hooks else "0",
            MAX_UNSENT=str(MAX_UNSENT),
            PING_INTERVAL=str(PING_INTERVAL),
            PING_TIMEOUT=str(PING_TIMEOUT),
            PYTHONPATH=os.pathsep.join([ROOT, HERE]),
        )
        self.log_path = os.path.join(tmp_dir, f"gunicorn-{mode}-{int(hooks)}.log")
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                [
                    GUNICORN,
                    "-k",
                    mode,
                    "-w",
                    "1",
                    "-b",
                    f"127.0.0.1:{self.port}",
                    "--graceful-timeout",
                    "1",
                    "library_hooks_app:app",
                ],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        wait_for_port(self.port, proc=self.proc, what="gunicorn", log=self.log_path)

    def stats(self):
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/stats", timeout=5) as r:
            return json.loads(r.read())

    def get(self, path):
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=10) as r:
            return r.read()

    def stop(self):
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait(10)


@pytest.fixture(
    scope="module",
    params=[("eventlet", True), ("eventlet", False), ("gevent", True), ("gevent", False)],
    ids=["eventlet-hooked", "eventlet-stock", "gevent-hooked", "gevent-stock"],
)
def engine(request, tmp_path_factory):
    server = EngineServer(*request.param, str(tmp_path_factory.mktemp("hooks")))
    yield server
    server.stop()


def open_websocket(engine, query=""):
    ws = RawWebSocket(engine.port, f"/engine.io/?EIO=4&transport=websocket{query}")
    return ws


def handshake(ws):
    frame = ws.data_frame()
    assert frame.text[0] == "0", frame
    return json.loads(frame.text[1:])


def wait_for(condition, timeout=10, what="condition"):
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not within {timeout}s")
        time.sleep(0.05)


# --- Engine.IO over WebSocket -------------------------------------------------------


def test_the_handshake_and_messages_come_back_as_whole_unmasked_frames(engine):
    ws = open_websocket(engine)
    try:
        opened = handshake(ws)
        assert opened["upgrades"] == []
        assert opened["pingInterval"] == PING_INTERVAL * 1000
        assert opened["maxPayload"] == 1_000_000
        for text in ("4hello", "4" + "é" * 100, "4" + "x" * 70_000):
            ws.send(text)
            frame = ws.data_frame()
            assert (frame.fin, frame.opcode, frame.masked) == (True, 1, False), frame
            assert frame.text == text
        # A binary message of 64 KiB: unmasked by the server, sent back as binary.
        data = bytes(range(256)) * 256
        ws.send(data)
        frame = ws.data_frame()
        assert (frame.fin, frame.opcode, frame.masked) == (True, 2, False), frame
        assert frame.payload == data
    finally:
        ws.close()


def test_a_hooked_server_writes_its_websockets_itself(engine):
    if not engine.hooks:
        pytest.skip("the stock libraries' writer: nothing of the hooks to count")
    ws = open_websocket(engine)
    try:
        handshake(ws)
        wait_for(lambda: engine.stats()["open"] == 1, what="the socket counted as written directly")
    finally:
        ws.close()
    wait_for(lambda: engine.stats()["open"] == 0, what="the socket's end counted")


def test_the_server_pings_and_a_silent_client_is_closed(engine):
    ws = open_websocket(engine)
    try:
        handshake(ws)
        started = time.monotonic()
        assert ws.data_frame(timeout=PING_INTERVAL + 5).text == "2"
        ws.send("3")
        assert ws.data_frame(timeout=PING_INTERVAL + 5).text == "2"
        assert time.monotonic() - started >= PING_INTERVAL * 1.5
        # No pong now: the server gives up after the ping timeout.
        silent_since = time.monotonic()
        ws.wait_closed(timeout=PING_INTERVAL + PING_TIMEOUT + 5)
        assert time.monotonic() - silent_since < PING_INTERVAL + PING_TIMEOUT + 4
    finally:
        ws.close()


def test_a_close_packet_ends_the_connection(engine):
    ws = open_websocket(engine)
    try:
        handshake(ws)
        ws.send("1")
        ws.wait_closed(timeout=5)
    finally:
        ws.close()


def test_upgrade_from_polling(engine):
    opened = engine.get("/engine.io/?EIO=4&transport=polling").decode()
    assert opened[0] == "0"
    sid = json.loads(opened[1:])["sid"]
    result = {}

    def pending_poll():  # the poll the upgrade ends with a NOOP
        result["poll"] = engine.get(f"/engine.io/?EIO=4&transport=polling&sid={sid}").decode()

    poller = threading.Thread(target=pending_poll)
    poller.start()
    time.sleep(0.5)  # the poll is waiting on the server
    ws = open_websocket(engine, f"&sid={sid}")
    try:
        ws.send("2probe")
        assert ws.data_frame().text == "3probe"
        ws.send("5")
        poller.join(10)
        assert result.get("poll") == "6"
        ws.send("4after the upgrade")
        assert ws.data_frame().text == "4after the upgrade"
    finally:
        ws.close()


def test_a_hooked_server_drops_a_client_that_does_not_read(engine):
    if not engine.hooks:
        pytest.skip("the stock libraries keep what a client does not read")
    ws = open_websocket(engine)
    before = engine.stats()["dropped_behind"]
    try:
        handshake(ws)
        ws.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        ws.send("4flood:400:65536")  # 26 MB, far past MAX_UNSENT, and nothing read
        wait_for(
            lambda: engine.stats()["dropped_behind"] == before + 1,
            timeout=20,
            what="the client dropped",
        )
    finally:
        ws.close()


def test_a_request_gunicorn_cannot_read_is_answered_in_json_when_hooked(engine):
    with socket.create_connection(("127.0.0.1", engine.port), timeout=10) as s:
        s.sendall(b"GET /" + b"a" * 5000 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
        answer = b""
        while chunk := s.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400"), head
    if engine.hooks:
        assert json.loads(body)["error"]["code"] == "bad_request"
    else:
        assert b"<html>" in body.lower() or b"<h1>" in body.lower() or b"Bad Request" in body


# --- the message queues on a real Redis ---------------------------------------------


class SocketServer:
    """A python-socketio server (threading) on a queue manager, served over HTTP by
    werkzeug in a thread; clients use long-polling."""

    def __init__(self, manager):
        import socketio
        from werkzeug.serving import make_server

        self.sio = socketio.Server(client_manager=manager, async_mode="threading")
        self.manager = manager
        self.joined = threading.Event()

        @self.sio.on("join")
        def join(sid, room):
            self.sio.enter_room(sid, room)
            return "joined"

        @self.sio.on("whoami")
        def whoami(sid):
            return sid

        self.port = free_port()
        self.http = make_server("127.0.0.1", self.port, socketio.WSGIApp(self.sio), threaded=True)
        threading.Thread(target=self.http.serve_forever, daemon=True).start()

    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def stop(self):
        self.http.shutdown()


class Client:
    def __init__(self, server):
        import socketio

        self.events = []
        self.sio = socketio.Client(reconnection=False)
        self.sio.on("*", lambda event, *args: self.events.append((event, args)))
        self.sio.on("ask", lambda question: f"answer to {question}")
        self.sio.connect(server.url(), transports=["polling"], wait_timeout=10)
        self.sid = self.sio.call("whoami", timeout=10)

    def got(self, event, *args):
        return (event, args) in self.events

    def close(self):
        self.sio.disconnect()


@pytest.fixture
def redis_server(tmp_path):
    server = Redis(str(tmp_path / "redis")).start()
    yield server
    server.stop()


@pytest.fixture(params=["sharded", "classic"])
def two_servers(request, redis_server):
    from app import library_hooks

    servers = [
        SocketServer(library_hooks.queue_manager(redis_server.url(), request.param))
        for _ in range(2)
    ]
    yield servers
    for server in servers:
        server.stop()


def _started(server):
    """A server's manager starts listening at its first connection: make one."""
    client = Client(server)
    wait_for(lambda: server.manager.live, what="the listener subscribed")
    return client


def test_emits_cross_between_servers_through_redis(two_servers):
    a, b = two_servers
    here, there = _started(a), _started(b)
    try:
        assert here.sio.call("join", "news", timeout=10) == "joined"
        b.sio.emit("to-room", "hi", room="news")
        b.sio.emit("to-socket", "you", to=here.sid)
        b.sio.emit("to-everyone", "all")
        wait_for(lambda: here.got("to-room", "hi"), what="the room's emit")
        wait_for(lambda: here.got("to-socket", "you"), what="the socket's emit")
        wait_for(lambda: there.got("to-everyone", "all"), what="the broadcast, on its own server")
        wait_for(lambda: here.got("to-everyone", "all"), what="the broadcast, across")
        assert not there.got("to-room", "hi")
        # A socket of server a put in a room by server b, then reached there.
        b.sio.enter_room(here.sid, "later")
        b.sio.emit("to-later", "x", room="later")
        wait_for(lambda: here.got("to-later", "x"), what="the room entered from afar")
        # An ack from a socket of a, asked for by b.
        answers = []
        b.sio.emit("ask", "q", to=here.sid, callback=lambda answer: answers.append(answer))
        wait_for(lambda: answers == ["answer to q"], what="the ack across")
    finally:
        here.close()
        there.close()


def test_the_listener_is_back_soon_after_a_redis_restart(two_servers, redis_server):
    a, b = two_servers
    here, there = _started(a), _started(b)
    try:
        redis_server.stop(remove=False)
        wait_for(lambda: a.manager.live is False, what="the loss noticed", timeout=15)
        assert here.sio.connected
        redis_server.start()
        restarted = time.monotonic()
        wait_for(lambda: a.manager.live and b.manager.live, what="listening again", timeout=10)
        assert time.monotonic() - restarted < 5
        wait_for(lambda: here.got("delivery", {"live": False}), what="delivery off, told")
        wait_for(lambda: here.got("delivery", {"live": True}), what="delivery on, told")
        b.sio.emit("after", "restart")
        wait_for(lambda: here.got("after", "restart"), what="an emit after the restart")
    finally:
        here.close()
        there.close()
