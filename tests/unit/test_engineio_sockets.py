"""app/library_hooks/engineio_sockets.py in this process: the class install()
puts in python-engineio's place, unmasking against RFC 6455 and eventlet's
own, the cap on a socket's queue on a real engineio.Server, frames against
wsproto's, the socket gevent and wsproto hand the hooks.

Served for real (gunicorn's eventlet and gevent workers, frames read off the
wire) in tests/integration/test_library_hooks.py, and under the whole app in
tests/integration/test_realtime_cluster.py.
"""

import inspect
import time
import types

import engineio.socket
import pytest

from app.library_hooks import engineio_sockets


@pytest.mark.parametrize(
    "name, parameters",
    [
        ("_websocket_handler", ["self", "ws"]),
        ("schedule_ping", ["self"]),
        ("send", ["self", "pkt"]),
        ("close", ["self", "wait", "abort", "reason"]),
        ("check_ping_timeout", ["self"]),
        ("receive", ["self", "pkt"]),
        ("poll", ["self"]),
    ],
)
def test_the_overridden_socket_methods_keep_their_signatures(name, parameters):
    base = engineio_sockets.BoundedQueueSocket.__mro__[1]
    assert base.__module__ == "engineio.socket"
    assert base in engineio_sockets.DirectSocket.__mro__
    assert base in engineio_sockets.WholeFrameSocket.__mro__
    assert list(inspect.signature(getattr(base, name)).parameters) == parameters


def test_socket_as_eventlet_input_hands_the_socket_on_under_eventlets_key():
    seen = {}

    def inner(environ, start_response):
        seen.update(environ)
        return []

    wrapped = engineio_sockets.socket_as_eventlet_input(inner)
    sock = object()
    wrapped({"gunicorn.socket": sock, "PATH_INFO": "/"}, None)
    assert "gunicorn.socket" not in seen
    assert seen["eventlet.input"].get_socket() is sock
    seen.clear()
    wrapped({"PATH_INFO": "/"}, None)
    assert "eventlet.input" not in seen


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_install_chooses_the_class_by_async_mode():
    from eventlet.websocket import RFC6455WebSocket

    original = engineio.socket.Socket
    original_mask = RFC6455WebSocket.__dict__["_apply_mask"]
    original_message = RFC6455WebSocket.Message
    original_cap = engineio_sockets.MAX_UNSENT_BYTES
    try:
        engineio_sockets.install("gevent", max_unsent_bytes=123_456)
        assert engineio.socket.Socket is engineio_sockets.GeventDirectSocket
        assert engineio_sockets.MAX_UNSENT_BYTES == 123_456
        engineio_sockets.install("threading")
        assert engineio.socket.Socket is engineio_sockets.WholeFrameSocket
        engineio_sockets.install("eventlet")
        assert engineio.socket.Socket is engineio_sockets.DirectSocket
        assert RFC6455WebSocket._apply_mask is engineio_sockets.unmask
        assert RFC6455WebSocket.Message.counts_pieces
        assert RFC6455WebSocket.Message.__bases__ == (original_message,)
        engineio_sockets.install("eventlet")  # once is enough
        assert RFC6455WebSocket.Message.__bases__ == (original_message,)
    finally:
        engineio.socket.Socket = original
        RFC6455WebSocket._apply_mask = original_mask
        RFC6455WebSocket.Message = original_message
        engineio_sockets.MAX_UNSENT_BYTES = original_cap


def rfc6455_unmask(data, mask, length, offset):
    """RFC 6455 5.3, byte by byte: octet i XOR mask octet (offset + i) mod 4."""
    return bytes(b ^ mask[(offset + i) % 4] for i, b in enumerate(data[:length]))


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.parametrize("size", [0, 1, 3, 4, 5, 127, 150, 65536])
@pytest.mark.parametrize("offset", [0, 1, 2, 3, 1001])
def test_unmask_gives_what_eventlets_own_gives(size, offset):
    import random

    from eventlet.websocket import RFC6455WebSocket

    rng = random.Random(size * 7 + offset)
    data = bytes(rng.randrange(256) for _ in range(size))
    mask = tuple(rng.randrange(256) for _ in range(4))  # as _recv_frame unpacks it
    eventlets = RFC6455WebSocket.__dict__["_apply_mask"].__func__
    for length in {size, size // 2}:
        expected = rfc6455_unmask(data, mask, length, offset)
        assert engineio_sockets.unmask(data, mask, length=length, offset=offset) == expected
        if eventlets is not engineio_sockets.unmask:  # install() has not run in this process
            assert eventlets(data, mask, length=length, offset=offset) == expected
    assert engineio_sockets.unmask(data, bytes(mask)) == rfc6455_unmask(data, mask, size, 0)
    # Unmasking twice gives the data back (masking is the same operation).
    assert engineio_sockets.unmask(engineio_sockets.unmask(data, mask), mask) == data


# --- the cap on what waits for a client (BoundedQueueSocket) --------------------
# On a real python-engineio server in threading mode, with nothing connected: the
# packets stay on the socket's queue, as for a client that does not read. The
# WebSocket paths are tested for real in tests/integration/test_realtime_cluster.py.


@pytest.fixture
def queued_socket(monkeypatch):
    import engineio
    from engineio import packet

    monkeypatch.setattr(engineio_sockets, "MAX_UNSENT_BYTES", 1000)
    monkeypatch.setitem(engineio_sockets.STATS, "dropped_behind", 0)
    server = engineio.Server(async_mode="threading")
    closed = []
    server.on("disconnect", lambda sid, reason: closed.append(reason))
    sock = engineio_sockets.BoundedQueueSocket(server, "sid-1")
    sock.connected = True
    sock.closed_reasons = closed

    def send(size):
        sock.send(packet.Packet(packet.MESSAGE, data="x" * size))

    return sock, send


def test_one_packet_of_any_size_waits_however_large(queued_socket):
    sock, send = queued_socket
    send(50_000)
    assert sock.queue.qsize() == 1
    assert not sock._dropped and engineio_sockets.STATS["dropped_behind"] == 0


def test_what_waits_behind_the_first_packet_is_counted_until_the_next_poll(queued_socket):
    sock, send = queued_socket
    send(50_000)
    for _ in range(4):
        send(250)  # 1,000 behind the first: at the cap, not past it
    assert sock.queue.qsize() == 5 and not sock._dropped
    assert len(sock.poll()) == 5  # the writer took them all: counting starts again
    send(900)
    send(900)
    assert sock.queue.qsize() == 2 and not sock._dropped


def test_past_the_cap_the_socket_is_dropped_and_then_closed(queued_socket):
    sock, send = queued_socket
    send(10)
    for _ in range(4):
        send(250)
    send(1)  # 1,001 behind the first
    assert sock._dropped
    assert engineio_sockets.STATS["dropped_behind"] == 1
    deadline = time.monotonic() + 5
    # Closed by a thread of its own, which then puts its None on the queue.
    while not (sock.closed and sock.queue.qsize()) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert sock.closed
    assert sock.closed_reasons == [sock.server.reason.TRANSPORT_ERROR]
    send(10)  # for nobody now
    # What waited went with the drop, the packet past the cap and the one after
    # it were never queued; the close put its None ("the writer may stop") and
    # no CLOSE packet (aborted).
    assert list(sock.queue.queue) == [None]


# --- gevent: GeventDirectSocket over simple-websocket ---------------------------


def test_wsproto_keeps_the_negotiated_extensions_where_the_gevent_writer_looks():
    from wsproto import ConnectionType, WSConnection
    from wsproto.events import AcceptConnection, Request
    from wsproto.extensions import PerMessageDeflate

    client, server = WSConnection(ConnectionType.CLIENT), WSConnection(ConnectionType.SERVER)
    server.receive_data(
        client.send(Request(host="h", target="/", extensions=[PerMessageDeflate()]))
    )
    assert any(isinstance(e, Request) for e in server.events())
    server.send(AcceptConnection(extensions=[PerMessageDeflate()]))
    negotiated = server.connection._proto.extensions
    assert [(e.name, e.enabled()) for e in negotiated] == [("permessage-deflate", True)]


def test_gevents_socket_keeps_a_non_blocking_socket_underneath():
    import gevent.socket

    a, b = gevent.socket.socketpair()
    try:
        import _socket

        assert isinstance(a._sock, _socket.socket)
        assert a._sock.gettimeout() == 0.0  # send() there never waits
    finally:
        a.close()
        b.close()


@pytest.mark.parametrize(
    "data",
    ["", "a", "x" * 125, "x" * 126, "x" * 65535, "x" * 65536, "\u00e9" * 100, b"\x00\x01" * 70000],
)
def test_a_frame_packed_once_is_what_wsproto_packs_for_a_server(data):
    from wsproto.frame_protocol import FrameProtocol

    assert engineio_sockets._server_frame(data) == FrameProtocol(
        client=False, extensions=[]
    ).send_data(data, fin=True)


# --- a WebSocket message counted as it arrives --------------------------------------


def client_frame(opcode, payload, fin=True):
    """A masked client frame (RFC 6455 5.2) with a zero mask."""
    first = (0x80 if fin else 0) | opcode
    length = len(payload)
    if length < 126:
        header = bytes((first, 0x80 | length))
    else:
        header = bytes((first, 0x80 | 126)) + length.to_bytes(2, "big")
    return header + b"\0\0\0\0" + payload


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_eventlets_websocket_fails_a_fragmented_message_past_its_frame_limit_with_1009():
    """What the hook relies on: a Message made per message with the frame limit,
    pushed each piece, and a FailedConnectionError that closes with its status."""
    import socket

    from eventlet.websocket import RFC6455WebSocket

    server, client = socket.socketpair()
    counted = engineio_sockets._counted_message_class(RFC6455WebSocket.Message)
    ws = RFC6455WebSocket(server, {}, max_frame_length=100)
    ws.Message = counted
    client.sendall(
        client_frame(0x1, b"4" * 60, fin=False)
        + client_frame(0x0, b"x" * 30, fin=False)
        + client_frame(0x0, b"x" * 30)
    )
    before = engineio_sockets.STATS["too_large"]
    assert ws.wait() is None
    assert engineio_sockets.STATS["too_large"] == before + 1
    closing = client.recv(200)
    assert closing[0] == 0x88 and int.from_bytes(closing[2:4], "big") == 1009, closing
    client.close()

    server, client = socket.socketpair()  # 100 bytes in pieces still make a message
    ws = RFC6455WebSocket(server, {}, max_frame_length=100)
    ws.Message = counted
    client.sendall(client_frame(0x1, b"4" * 50, fin=False) + client_frame(0x0, b"x" * 50))
    assert ws.wait() == "4" * 50 + "x" * 50
    client.close()
    server.close()


def test_wsproto_pieces_are_counted_in_bytes_and_close_with_1009():
    from wsproto import ConnectionType, WSConnection
    from wsproto.events import AcceptConnection, CloseConnection, Request, TextMessage

    server = WSConnection(ConnectionType.SERVER)
    client = WSConnection(ConnectionType.CLIENT)
    server.receive_data(client.send(Request(host="chat", target="/")))
    assert isinstance(next(server.events()), Request)
    client.receive_data(server.send(AcceptConnection()))
    assert isinstance(next(client.events()), AcceptConnection)
    limited = engineio_sockets._MessageSizeLimit(
        server, 100, types.SimpleNamespace(input_buffer=[], connected=True)
    )
    # 40 two-byte characters: 80 bytes, then 30 more in a second piece.
    limited.receive_data(client.send(TextMessage(data="é" * 40, message_finished=False)))
    assert [type(e) for e in limited.events()] == [TextMessage]
    limited.receive_data(client.send(TextMessage(data="x" * 30, message_finished=True)))
    events = list(limited.events())
    assert len(events) == 1 and isinstance(events[0], CloseConnection), events
    assert events[0].code == 1009
    assert limited.send(events[0].response())  # a close frame, through the connection
