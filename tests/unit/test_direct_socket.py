"""The library internals app/realtime/direct_socket.py relies on are still there.

The behaviour is tested for real in tests/integration/test_realtime_cluster.py
(sockets written directly under eventlet, a client that stops reading under
eventlet and gevent); this fails first, and says which piece moved, if a
python-engineio, eventlet or simple-websocket release changes shape.
"""

import inspect
import time
import types

import engineio.server
import engineio.socket
import pytest

from app.realtime import direct_socket


def test_engineio_creates_each_socket_through_the_socket_modules_class():
    source = inspect.getsource(engineio.server.Server._handle_connect)
    assert "socket.Socket(self, sid)" in source
    assert engineio.server.socket is engineio.socket


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
    base = direct_socket.BoundedQueueSocket.__mro__[1]
    assert base.__module__ == "engineio.socket"
    assert base in direct_socket.DirectSocket.__mro__
    assert base in direct_socket.WholeFrameSocket.__mro__
    assert list(inspect.signature(getattr(base, name)).parameters) == parameters


def test_the_socket_state_the_hook_reads_is_set_by_the_base_class():
    source = inspect.getsource(engineio.socket.Socket.__mro__[-2].__init__)
    for attribute in (
        "self.queue",
        "self.last_ping",
        "self.connected",
        "self.upgrading",
        "self.upgraded",
        "self.closing",
        "self.closed",
    ):
        assert attribute in source, attribute


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # eventlet's own, on import
def test_eventlets_websocket_has_the_packing_lock_and_socket_the_hook_uses():
    from eventlet.websocket import RFC6455WebSocket

    assert list(inspect.signature(RFC6455WebSocket._pack_message).parameters)[:2] == [
        "self",
        "message",
    ]
    init = inspect.getsource(RFC6455WebSocket.__init__) + inspect.getsource(
        RFC6455WebSocket.__mro__[1].__init__
    )
    for attribute in ("self.extensions", "self._sendlock", "self.socket"):
        assert attribute in init, attribute
    assert (
        "ignore_send_errors" in inspect.signature(RFC6455WebSocket._send_closing_frame).parameters
    )
    from eventlet.greenio.base import GreenSocket

    assert "self.fd = fd" in inspect.getsource(GreenSocket.__init__)


def test_engineio_only_wraps_the_socket_for_eventlet_when_gunicorn_gives_it():
    """socket_as_eventlet_input() takes environ["gunicorn.socket"] away first."""
    import engineio.middleware

    source = inspect.getsource(engineio.middleware.WSGIApp.__call__)
    assert "if 'gunicorn.socket' in environ:" in source


def test_socket_as_eventlet_input_hands_the_socket_on_under_eventlets_key():
    seen = {}

    def inner(environ, start_response):
        seen.update(environ)
        return []

    wrapped = direct_socket.socket_as_eventlet_input(inner)
    sock = object()
    wrapped({"gunicorn.socket": sock, "PATH_INFO": "/"}, None)
    assert "gunicorn.socket" not in seen
    assert seen["eventlet.input"].get_socket() is sock
    seen.clear()
    wrapped({"PATH_INFO": "/"}, None)
    assert "eventlet.input" not in seen


def test_simple_websocket_still_has_the_connection_and_socket_the_gevent_fix_uses():
    import simple_websocket.ws

    init = inspect.getsource(simple_websocket.ws.Base.__init__)
    for attribute in ("self.sock", "self.ws", "self.connected"):
        assert attribute in init, attribute
    from engineio.async_drivers import _websocket_wsgi

    assert "self.ws = simple_websocket.Server(" in inspect.getsource(
        _websocket_wsgi.SimpleWebSocketWSGI.__call__
    )


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_install_chooses_the_class_by_async_mode():
    from eventlet.websocket import RFC6455WebSocket

    original = engineio.socket.Socket
    original_mask = RFC6455WebSocket.__dict__["_apply_mask"]
    original_message = RFC6455WebSocket.Message
    original_cap = direct_socket.MAX_UNSENT_BYTES
    try:
        direct_socket.install("gevent", max_unsent_bytes=123_456)
        assert engineio.socket.Socket is direct_socket.GeventDirectSocket
        assert direct_socket.MAX_UNSENT_BYTES == 123_456
        direct_socket.install("threading")
        assert engineio.socket.Socket is direct_socket.WholeFrameSocket
        direct_socket.install("eventlet")
        assert engineio.socket.Socket is direct_socket.DirectSocket
        assert RFC6455WebSocket._apply_mask is direct_socket.unmask
        assert RFC6455WebSocket.Message.counts_pieces
        assert RFC6455WebSocket.Message.__bases__ == (original_message,)
        direct_socket.install("eventlet")  # once is enough
        assert RFC6455WebSocket.Message.__bases__ == (original_message,)
    finally:
        engineio.socket.Socket = original
        RFC6455WebSocket._apply_mask = original_mask
        RFC6455WebSocket.Message = original_message
        direct_socket.MAX_UNSENT_BYTES = original_cap


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_eventlets_unmasking_is_still_the_static_method_the_hook_replaces():
    from eventlet.websocket import RFC6455WebSocket

    method = RFC6455WebSocket.__dict__["_apply_mask"]
    assert isinstance(method, staticmethod)
    assert list(inspect.signature(method.__func__).parameters) == [
        "data",
        "mask",
        "length",
        "offset",
    ]
    source = inspect.getsource(RFC6455WebSocket._recv_frame)
    assert "mask = struct.unpack('!BBBB', recv(4))" in source
    assert "self._apply_mask(d, mask, length=dlen, offset=received)" in source


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
        assert direct_socket.unmask(data, mask, length=length, offset=offset) == expected
        if eventlets is not direct_socket.unmask:  # install() has not run in this process
            assert eventlets(data, mask, length=length, offset=offset) == expected
    assert direct_socket.unmask(data, bytes(mask)) == rfc6455_unmask(data, mask, size, 0)
    # Unmasking twice gives the data back (masking is the same operation).
    assert direct_socket.unmask(direct_socket.unmask(data, mask), mask) == data


# --- the cap on what waits for a client (BoundedQueueSocket) --------------------
# On a real python-engineio server in threading mode, with nothing connected: the
# packets stay on the socket's queue, as for a client that does not read. The
# WebSocket paths are tested for real in tests/integration/test_realtime_cluster.py.


@pytest.fixture
def queued_socket(monkeypatch):
    import engineio
    from engineio import packet

    monkeypatch.setattr(direct_socket, "MAX_UNSENT_BYTES", 1000)
    monkeypatch.setitem(direct_socket.STATS, "dropped_behind", 0)
    server = engineio.Server(async_mode="threading")
    closed = []
    server.on("disconnect", lambda sid, reason: closed.append(reason))
    sock = direct_socket.BoundedQueueSocket(server, "sid-1")
    sock.connected = True
    sock.closed_reasons = closed

    def send(size):
        sock.send(packet.Packet(packet.MESSAGE, data="x" * size))

    return sock, send


def test_one_packet_of_any_size_waits_however_large(queued_socket):
    sock, send = queued_socket
    send(50_000)
    assert sock.queue.qsize() == 1
    assert not sock._dropped and direct_socket.STATS["dropped_behind"] == 0


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
    assert direct_socket.STATS["dropped_behind"] == 1
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


def test_simple_websocket_writes_its_own_frames_through_its_sock_attribute():
    """GeventDirectSocket swaps `connection.sock` for _WritesInOrder once it writes
    directly, so that simple-websocket's own frames (pongs, close replies) keep
    their place; that needs every send of simple-websocket to go through it."""
    import simple_websocket.ws

    for method in (simple_websocket.ws.Base._handle_events, simple_websocket.ws.Base.close):
        source = inspect.getsource(method)
        assert "self.sock.send(" in source
        assert "socket.send(" not in source.replace("self.sock.send(", "")
    thread = inspect.getsource(simple_websocket.ws.Base._thread)
    assert "self.sock.recv(" in thread  # read through the attribute each time


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


def test_the_library_pings_from_a_method_gevent_direct_socket_leaves_alone():
    assert "_send_ping" not in vars(direct_socket.DirectSocket)
    assert "self._send_ping" in inspect.getsource(direct_socket._LibrarySocket.schedule_ping)


@pytest.mark.parametrize(
    "data",
    ["", "a", "x" * 125, "x" * 126, "x" * 65535, "x" * 65536, "\u00e9" * 100, b"\x00\x01" * 70000],
)
def test_a_frame_packed_once_is_what_wsproto_packs_for_a_server(data):
    from wsproto.frame_protocol import FrameProtocol

    assert direct_socket._server_frame(data) == FrameProtocol(
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

    source = inspect.getsource(RFC6455WebSocket._recv_frame)
    assert "self.Message(opcode, self.max_frame_length" in source
    assert "message.push(d, final=finished)" in source
    assert "except FailedConnectionError:" in inspect.getsource(RFC6455WebSocket._iter_frames)

    server, client = socket.socketpair()
    counted = direct_socket._counted_message_class(RFC6455WebSocket.Message)
    ws = RFC6455WebSocket(server, {}, max_frame_length=100)
    ws.Message = counted
    client.sendall(
        client_frame(0x1, b"4" * 60, fin=False)
        + client_frame(0x0, b"x" * 30, fin=False)
        + client_frame(0x0, b"x" * 30)
    )
    before = direct_socket.STATS["too_large"]
    assert ws.wait() is None
    assert direct_socket.STATS["too_large"] == before + 1
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
    import simple_websocket.ws
    from wsproto import ConnectionType, WSConnection
    from wsproto.events import AcceptConnection, CloseConnection, Request, TextMessage

    handle = inspect.getsource(simple_websocket.ws.Base._handle_events)
    assert "for event in self.ws.events():" in handle
    assert "out_data += self.ws.send(event.response())" in handle
    assert "self.input_buffer.append(" in handle  # what _MessageSizeLimit watches
    assert "self.input_buffer.pop(0)" in inspect.getsource(simple_websocket.ws.Base.receive)

    server = WSConnection(ConnectionType.SERVER)
    client = WSConnection(ConnectionType.CLIENT)
    server.receive_data(client.send(Request(host="chat", target="/")))
    assert isinstance(next(server.events()), Request)
    client.receive_data(server.send(AcceptConnection()))
    assert isinstance(next(client.events()), AcceptConnection)
    limited = direct_socket._MessageSizeLimit(
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


def test_the_packet_guard_uses_python_socketios_handlers_as_they_are():
    import socketio.base_server
    import socketio.server

    init = inspect.getsource(socketio.base_server.BaseServer.__init__)
    for event in ("connect", "message", "disconnect"):
        assert f"self.eio.on('{event}', self._handle_eio_{event})" in init, event
    server = socketio.server.Server
    assert "self.packet_class(encoded_packet=data)" in inspect.getsource(server._handle_eio_message)
    for name, parameters in [
        ("_handle_eio_connect", ["self", "eio_sid", "environ"]),
        ("_handle_eio_message", ["self", "eio_sid", "data"]),
        ("_handle_eio_disconnect", ["self", "eio_sid", "reason"]),
        ("_handle_connect", ["self", "eio_sid", "namespace", "data"]),
        ("_handle_disconnect", ["self", "eio_sid", "namespace", "reason"]),
        ("_handle_event", ["self", "eio_sid", "namespace", "id", "data"]),
        ("_handle_ack", ["self", "eio_sid", "namespace", "id", "data"]),
        ("_send_packet", ["self", "eio_sid", "pkt"]),
    ]:
        assert list(inspect.signature(getattr(server, name)).parameters) == parameters, name


def test_a_polling_body_is_decoded_where_the_hook_catches_its_errors():
    source = inspect.getsource(direct_socket._LibrarySocket.handle_post_request)
    assert "payload.Payload(encoded_payload=body)" in source
    assert ".decode('utf-8')" in source
