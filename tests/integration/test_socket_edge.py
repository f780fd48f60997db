"""The Socket.IO edge against hostile clients, on one real instance behind nginx,
once per async mode (eventlet, then gevent):

- a WebSocket message is counted as it arrives, piece by piece: a fragmented
  message (or one frame announcing more) past 64 KiB closes the socket with
  close code 1009, and the worker holds none of it (its RSS, straight to the
  instance and through nginx), without logging in;
- a Socket.IO packet with binary attachments is refused (a `bad_request` ack);
  the binary frames that follow are dropped, not kept;
- packets that do not decode (`42abc`, `42`, `421`, `43`, `4x`, a 5,000-digit
  number...) are answered (`bad_request`, when they carry an ack id on a
  connected socket) or dropped, counted in /metrics and logged a few times,
  never with a traceback, over WebSocket and polling;
- a connection that has not completed the Socket.IO connect within 10 s is
  closed (WebSocket and polling); a connected one stays;
- every client event counts against a per-socket budget: 200 `leave` events
  at once get `rate_limited` past it.

The clients here write frames and packets by hand: no client library would
send these.
"""

import base64
import json
import os
import re
import socket
import struct
import threading
import time

import psutil
import pytest
import requests
from socket_clients import register

pytestmark = pytest.mark.integration

CLUSTER_ENV = {
    "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000",
    "AUTH_RATE_LIMIT": "10000 per minute",
    "CONNECT_RATE_LIMIT": "1000 per minute",
}
LIMIT = 64 * 1024  # the contract's largest WebSocket message / Socket.IO packet
CONNECT_TIMEOUT = 10  # seconds to complete the Socket.IO connect (the contract's)
PIECE = 60_000  # bytes per continuation frame
MB = 1024 * 1024


@pytest.fixture(scope="module", params=["eventlet", "gevent"])
def cluster_options(request):
    return {"instances": 1, "async_mode": request.param, "extra_env": CLUSTER_ENV}


@pytest.fixture(scope="module")
def instance(cluster):
    return cluster.instances[0]


# --- a WebSocket client that writes its own frames ----------------------------


class RawWebSocket:
    """A WebSocket on a plain TCP socket: the upgrade, then frames built here
    (fragmented, oversized, binary), masked as a client's must be."""

    def __init__(self, port, path="/socket.io/?EIO=4&transport=websocket", timeout=10):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall(
            (
                f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                "Sec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.sock.recv(4096)
            assert chunk, f"connection closed during the upgrade: {head!r}"
            head += chunk
        head, _, self.buffer = head.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 101"), head
        self.close_code = None
        self.acks = {}  # ack id -> data, of ACKs read while waiting for another
        opened = self.text()
        assert opened.startswith("0{"), opened  # Engine.IO OPEN

    # sending

    def frame(self, opcode, payload, fin=True, announce=None):
        """Sends one frame; `announce` puts another length in its header."""
        length = len(payload) if announce is None else announce
        first = (0x80 if fin else 0) | opcode
        if length < 126:
            header = struct.pack("!BB", first, 0x80 | length)
        elif length < 65536:
            header = struct.pack("!BBH", first, 0x80 | 126, length)
        else:
            header = struct.pack("!BBQ", first, 0x80 | 127, length)
        mask = os.urandom(4)
        self.sock.sendall(header + mask + _masked(payload, mask))

    def send_text(self, text):
        self.frame(0x1, text.encode())

    def send_binary(self, data):
        self.frame(0x2, data)

    def raw(self, data):
        self.sock.sendall(data)

    # receiving

    def _read(self, n):
        while len(self.buffer) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed by the server")
            self.buffer += chunk
        data, self.buffer = self.buffer[:n], self.buffer[n:]
        return data

    def next_frame(self):
        """(opcode, payload) of the next frame from the server."""
        first, second = self._read(2)
        length = second & 0x7F
        if length == 126:
            (length,) = struct.unpack("!H", self._read(2))
        elif length == 127:
            (length,) = struct.unpack("!Q", self._read(8))
        return first & 0x0F, self._read(length)

    def text(self):
        """The next text message, answering Engine.IO pings; ConnectionError once
        closed (close_code holds the close frame's code)."""
        while True:
            opcode, payload = self.next_frame()
            if opcode == 0x8:
                self.close_code = struct.unpack("!H", payload[:2])[0] if payload else 1005
                raise ConnectionError(f"close frame {self.close_code}")
            if opcode != 0x1:
                continue
            message = payload.decode()
            if message == "2":
                self.send_text("3")
                continue
            return message

    def closed_within(self, seconds):
        """True if the server closes the connection (a close frame or EOF) within
        `seconds`, reading and discarding what else it sends meanwhile."""
        deadline = time.monotonic() + seconds
        try:
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self.sock.settimeout(remaining)
                self.text()
        except TimeoutError:
            return False
        except (ConnectionError, OSError):
            return True

    def close(self):
        self.sock.close()


def _masked(payload, mask):
    if not payload:
        return b""
    key = (mask * (len(payload) // 4 + 1))[: len(payload)]
    return (int.from_bytes(payload, "big") ^ int.from_bytes(key, "big")).to_bytes(
        len(payload), "big"
    )


def connected_socket(port, token):
    """A RawWebSocket through which the Socket.IO connect has completed."""
    ws = RawWebSocket(port)
    ws.send_text("40" + json.dumps({"token": token}))
    answer = ws.text()
    assert answer.startswith("40{"), answer
    return ws


def ack(ws, ack_id, timeout=10):
    """The data of the ACK with `ack_id` (ACKs may come in any order; server
    events are skipped)."""
    ws.sock.settimeout(timeout)
    while ack_id not in ws.acks:
        match = re.match(r"43(\d+)(.*)", ws.text(), re.S)
        if match:
            ws.acks[int(match.group(1))] = json.loads(match.group(2))[0]
    return ws.acks.pop(ack_id)


# --- the instance: its worker, its log, its metrics ---------------------------


def worker_rss(instance):
    """The resident memory, in bytes, of the instance's gunicorn worker."""
    tree = [psutil.Process(instance.pid), *psutil.Process(instance.pid).children(recursive=True)]
    leaves = [p for p in tree if not p.children()]
    return max(p.memory_info().rss for p in leaves)


class LogWatch:
    """What the instance logs from now on."""

    def __init__(self, instance):
        self.path = instance.log_path
        self.start = os.path.getsize(self.path)

    def text(self):
        with open(self.path, errors="replace") as f:
            f.seek(self.start)
            return f.read()


def refused(instance, reason):
    """chat_socketio_refused_total{reason=...} from the instance's /metrics."""
    text = requests.get(instance.url + "/metrics", timeout=10).text
    match = re.search(
        r'^chat_socketio_refused_total\{reason="' + reason + r'"\} (\S+)$', text, re.M
    )
    return float(match.group(1)) if match else 0.0


def assert_still_serving(instance, token):
    ws = connected_socket(instance.port, token)
    try:
        ws.send_text('421["join",{"room":"general"}]')
        assert ack(ws, 1).get("ok") is True
    finally:
        ws.close()


# --- 1: a message counted as it arrives ----------------------------------------


def send_until_closed(ws, first, pieces, piece):
    """Calls `first` (a frame's header and start), then `piece` (which sends PIECE
    bytes) up to `pieces` times, until the server closes; returns the bytes sent, whether it closed, and the
    close frame's code (None without one)."""
    sent = 0
    closed = threading.Event()

    def read():
        if ws.closed_within(120):
            closed.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        first()
        for _ in range(pieces):
            if closed.is_set():
                break
            piece()
            sent += PIECE
    except OSError:
        pass
    closed.wait(10)
    return sent, closed.is_set(), ws.close_code


@pytest.mark.parametrize("via", ["instance", "nginx"])
def test_a_fragmented_message_is_counted_as_it_arrives_and_closed_past_64_KiB(
    cluster, instance, via
):
    """No token: FIN=0 "4", then 60,000-byte continuation frames (24 MB)."""
    port = instance.port if via == "instance" else cluster.port
    before = worker_rss(instance)
    ws = RawWebSocket(port)
    try:
        sent, closed, code = send_until_closed(
            ws,
            lambda: ws.frame(0x1, b"4", fin=False),
            pieces=400,
            piece=lambda: ws.frame(0x0, b"x" * PIECE, fin=False),
        )
        grown = worker_rss(instance) - before
    finally:
        ws.close()
    assert closed, f"still open after {sent} bytes"
    if via == "instance":
        assert code == 1009, code
    else:
        # nginx, writing to an instance that has closed, may close this side
        # without passing the close frame on.
        assert code in (1009, None), code
    # nginx and the kernels' buffers hold some of what was sent after the limit.
    assert sent < 8 * MB, sent
    assert grown < 4 * MB, f"the worker grew by {grown / MB:.1f} MB"


def test_one_frame_announcing_100_MB_is_closed_past_64_KiB(instance):
    """A single text frame whose header announces 100 MB, its payload sent in pieces."""
    before = worker_rss(instance)
    ws = RawWebSocket(instance.port)
    mask = b"\0\0\0\0"  # (valid, and leaves the payload as it is)
    try:
        sent, closed, code = send_until_closed(
            ws,
            lambda: ws.raw(struct.pack("!BBQ", 0x81, 0x80 | 127, 100_000_000) + mask + b"4"),
            pieces=400,
            piece=lambda: ws.raw(b"x" * PIECE),
        )
        grown = worker_rss(instance) - before
    finally:
        ws.close()
    assert closed, f"still open after {sent} bytes"
    assert code == 1009, code
    assert sent < 8 * MB, sent
    assert grown < 4 * MB, f"the worker grew by {grown / MB:.1f} MB"


def test_a_message_of_64_KiB_in_pieces_is_still_read(instance):
    """The limit is on what is over 64 KiB: a packet of exactly that size, in
    three pieces, reaches the server (an unknown event: a bad_request ack)."""
    account = register(instance.url)
    ws = connected_socket(instance.port, account.token)
    try:
        head = '21["nothing",{"pad":"'
        tail = '"}]'
        packet = (head + "x" * (LIMIT - len(head) - len(tail) - 1) + tail).encode()
        assert len(packet) == LIMIT - 1  # + the Engine.IO "4" = 64 KiB
        third = len(packet) // 3
        ws.frame(0x1, b"4" + packet[:third], fin=False)
        ws.frame(0x0, packet[third : 2 * third], fin=False)
        ws.frame(0x0, packet[2 * third :], fin=True)
        assert ack(ws, 1)["error"]["code"] == "bad_request"
    finally:
        ws.close()
        account.session.close()


# --- 2: binary attachments refused ----------------------------------------------


def test_a_packet_with_binary_attachments_is_refused_and_its_attachments_not_kept(instance):
    account = register(instance.url)
    ws = connected_socket(instance.port, account.token)
    try:
        # With an ack id: answered at once, without waiting for the attachment.
        ws.send_text('451-7["send",{"room":"general","body":{"_placeholder":true,"num":0}}]')
        answer = ack(ws, 7)
        assert answer["error"]["code"] == "bad_request", answer
        before = worker_rss(instance)
        ws.send_text('451000000-["send",{"room":"general","body":"x"}]')
        for _ in range(400):  # 24 MB of attachments
            ws.send_binary(b"\x00" * PIECE)
        # The socket still works (and has read all of them by the time it answers),
        # once its budget is back: each binary message counted against it.
        time.sleep(3.5)
        ws.send_text('428["join",{"room":"general"}]')
        assert ack(ws, 8, timeout=30).get("ok") is True
        grown = worker_rss(instance) - before
        assert grown < 4 * MB, f"the worker grew by {grown / MB:.1f} MB"
    finally:
        ws.close()
        account.session.close()
    assert refused(instance, "binary") >= 2


# --- 3: packets that do not decode -------------------------------------------------

BIG = "9" * 5000
UNDECODABLE = [
    "42abc",
    "42",
    "421",
    "43",
    "4x",
    "4",
    "44",
    "47",
    '42["join",{"room":' + BIG + "}]",
    "421" + BIG,
    "40" + BIG,
    '40{"token":' + BIG + "}",
]
REPEATS = 500 // len(UNDECODABLE) + 1
# WebSocket messages that are no Engine.IO packet (no packet type, an empty one).
UNDECODABLE_ENGINEIO = ["x", ""]


def assert_refused_quietly(instance, log, count_before, sent):
    text = log.text()
    assert "Traceback" not in text, text[-3000:]
    assert "handler error" not in text, text[-3000:]
    # At most one line every 10 s (so maybe none here, after an earlier test's).
    logged = text.count("undecodable Socket.IO packet")
    assert logged <= 3, (logged, text[-3000:])
    with open(instance.log_path, errors="replace") as f:
        assert "undecodable Socket.IO packet" in f.read()
    assert refused(instance, "undecodable") - count_before >= sent


def test_undecodable_packets_on_a_websocket_that_never_connected_are_dropped_quietly(instance):
    log = LogWatch(instance)
    counted = refused(instance, "undecodable")
    ws = RawWebSocket(instance.port)
    try:
        for _ in range(REPEATS):
            for packet in UNDECODABLE:
                ws.send_text(packet)
        ws.send_binary(b"\x01\x02\x03")
        # An Engine.IO UPGRADE on the WebSocket: answered (NOOP) once everything
        # before it is read.
        ws.send_text("5")
        ws.sock.settimeout(10)
        while ws.text() != "6":
            pass
    finally:
        ws.close()
    assert_refused_quietly(instance, log, counted, REPEATS * len(UNDECODABLE))


def test_an_undecodable_engineio_packet_ends_its_websocket_quietly(instance):
    """Below Socket.IO: a WebSocket message that is no Engine.IO packet closes the
    connection (the Engine.IO protocol), counted, without a traceback."""
    log = LogWatch(instance)
    counted = refused(instance, "undecodable")
    for packet in UNDECODABLE_ENGINEIO:
        ws = RawWebSocket(instance.port)
        try:
            ws.send_text(packet)
            assert ws.closed_within(5), packet
        finally:
            ws.close()
    text = log.text()
    assert "Traceback" not in text, text[-3000:]
    assert refused(instance, "undecodable") - counted >= len(UNDECODABLE_ENGINEIO)


def test_undecodable_packets_over_polling_are_dropped_quietly(instance):
    log = LogWatch(instance)
    counted = refused(instance, "undecodable")
    session = requests.Session()
    base = instance.url + "/socket.io/?EIO=4&transport=polling"
    opened = session.get(base, timeout=10)
    assert opened.status_code == 200 and opened.text.startswith("0{"), opened.text
    sid = json.loads(opened.text[1:])["sid"]
    url = f"{base}&sid={sid}"
    for _ in range(REPEATS):
        for start in range(0, len(UNDECODABLE), 4):  # bodies under 64 KiB
            body = "\x1e".join(UNDECODABLE[start : start + 4])
            response = session.post(url, data=body.encode(), timeout=10)
            assert response.status_code == 200, response.text
    # A body that is not Engine.IO (or not UTF-8): dropped whole.
    for body in [b"x", b"\xff\xfe", b"4abc\x1e\x1e"]:
        response = session.post(url, data=body, timeout=10)
        assert response.status_code == 200, (body, response.status_code, response.text)
    session.close()
    assert_refused_quietly(instance, log, counted, REPEATS * len(UNDECODABLE) + 3)


def test_undecodable_packets_with_an_ack_id_on_a_connected_socket_are_answered(instance):
    account = register(instance.url)
    log = LogWatch(instance)
    ws = connected_socket(instance.port, account.token)
    try:
        for ack_id, packet in [
            (11, "4211abc"),
            (12, "4212"),
            (13, '4213["join",{"room":' + BIG + "}]"),
            (14, "4214" + '["join",' + "[" * 40 + "]" * 40 + "]"),
        ]:
            ws.send_text(packet)
            answer = ack(ws, ack_id)
            assert answer["error"]["code"] == "bad_request", (packet[:40], answer)
        for packet in UNDECODABLE:
            ws.send_text(packet)
        ws.send_text('4215["join",{"room":"general"}]')
        assert ack(ws, 15).get("ok") is True
    finally:
        ws.close()
        account.session.close()
    text = log.text()
    assert "Traceback" not in text, text[-3000:]


# --- 6: a connection that never completes the Socket.IO connect ------------------


def test_connections_without_a_socketio_connect_are_closed_after_10_s(instance, cluster):
    account = register(instance.url)
    started = time.monotonic()
    idle = [RawWebSocket(instance.port), RawWebSocket(cluster.port)]
    refused_one = RawWebSocket(instance.port)
    refused_one.send_text('40{"token":"not a token"}')
    assert refused_one.text().startswith("44")  # CONNECT_ERROR; the connection stays
    idle.append(refused_one)
    connected = connected_socket(instance.port, account.token)
    session = requests.Session()
    base = instance.url + "/socket.io/?EIO=4&transport=polling"
    sid = json.loads(session.get(base, timeout=10).text[1:])["sid"]
    results = {}

    def watch(ws, key):
        results[key] = (ws.closed_within(CONNECT_TIMEOUT + 10), time.monotonic() - started)

    def poll():
        while time.monotonic() - started < CONNECT_TIMEOUT + 10:
            response = session.get(f"{base}&sid={sid}", timeout=30)
            if response.status_code != 200 or response.text.startswith("1"):
                results["polling"] = (True, time.monotonic() - started)
                return
        results["polling"] = (False, time.monotonic() - started)

    threads = [
        threading.Thread(target=watch, args=(ws, i), daemon=True) for i, ws in enumerate(idle)
    ]
    threads.append(threading.Thread(target=poll, daemon=True))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(CONNECT_TIMEOUT + 30)
    try:
        assert len(results) == len(idle) + 1, results
        assert all(closed for closed, _ in results.values()), f"not all closed: {results}"
        for key, (_, at) in results.items():
            assert CONNECT_TIMEOUT - 1 <= at <= CONNECT_TIMEOUT + 5, (key, at)
        connected.send_text('429["join",{"room":"general"}]')
        assert ack(connected, 9).get("ok") is True  # the connected one stays
    finally:
        for ws in [*idle, connected]:
            ws.close()
        session.close()
        account.session.close()
    assert refused(instance, "connect_timeout") >= len(idle) + 1


def test_a_connect_still_at_work_when_the_deadline_passes_is_not_closed(instance, cluster):
    """The deadline is for connections that never send the connect. A new user's
    connect reads their rooms to announce them online; with that table locked
    past the deadline the connect waits, and completes once the lock goes."""
    account = register(instance.url)
    lock = threading.Thread(
        target=cluster.postgres.psql,
        args=(
            "BEGIN; LOCK TABLE memberships IN ACCESS EXCLUSIVE MODE;"
            f" SELECT pg_sleep({CONNECT_TIMEOUT + 3}); COMMIT;",
            "chat",
        ),
        daemon=True,
    )
    lock.start()
    try:
        time.sleep(1)  # the lock is held
        ws = RawWebSocket(instance.port, timeout=CONNECT_TIMEOUT + 20)
        ws.send_text("40" + json.dumps({"token": account.token}))
        answer = ws.text()
        assert answer.startswith("40{"), answer
        ws.send_text('421["join",{"room":"general"}]')
        assert ack(ws, 1).get("ok") is True
        ws.close()
    finally:
        lock.join(CONNECT_TIMEOUT + 10)
        account.session.close()


# --- 11: a budget per socket ----------------------------------------------------


def test_200_leave_events_at_once_are_limited_per_socket(instance):
    account = register(instance.url)
    ws = connected_socket(instance.port, account.token)
    try:
        started = time.monotonic()
        for ack_id in range(1, 201):
            ws.send_text(f'42{ack_id}["leave",{{"room":"general"}}]')
        sent_in = time.monotonic() - started
        codes = [a.get("error", {}).get("code", "ok") for a in (ack(ws, i) for i in range(1, 201))]
    finally:
        ws.close()
        account.session.close()
    assert sent_in < 1, sent_in
    limited = codes.count("rate_limited")
    assert limited >= 100, f"{limited} of 200 leave events limited; sent in {sent_in:.2f} s"
    assert codes.count("ok") + limited == 200, codes
    assert refused(instance, "over_budget") >= limited
