"""The library internals app/realtime/direct_socket.py relies on are still there.

The behaviour is tested for real in tests/integration/test_realtime_cluster.py
(sockets written directly under eventlet, a client that stops reading under
eventlet and gevent); this fails first, and says which piece moved, if a
python-engineio, eventlet or simple-websocket release changes shape.
"""
import inspect

import engineio.server
import engineio.socket
import pytest

from app.realtime import direct_socket


def test_engineio_creates_each_socket_through_the_socket_modules_class():
    source = inspect.getsource(engineio.server.Server._handle_connect)
    assert "socket.Socket(self, sid)" in source
    assert engineio.server.socket is engineio.socket


@pytest.mark.parametrize("name, parameters", [
    ("_websocket_handler", ["self", "ws"]),
    ("schedule_ping", ["self"]),
    ("send", ["self", "pkt"]),
    ("close", ["self", "wait", "abort", "reason"]),
    ("check_ping_timeout", ["self"]),
    ("receive", ["self", "pkt"]),
])
def test_the_overridden_socket_methods_keep_their_signatures(name, parameters):
    base = direct_socket.DirectSocket.__mro__[1]
    assert base.__module__ == "engineio.socket"
    assert list(inspect.signature(getattr(base, name)).parameters) == parameters


def test_the_socket_state_the_hook_reads_is_set_by_the_base_class():
    source = inspect.getsource(engineio.socket.Socket.__mro__[-2].__init__)
    for attribute in ("self.queue", "self.last_ping", "self.connected", "self.upgrading",
                      "self.upgraded", "self.closing", "self.closed"):
        assert attribute in source, attribute


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # eventlet's own, on import
def test_eventlets_websocket_has_the_packing_lock_and_socket_the_hook_uses():
    from eventlet.websocket import RFC6455WebSocket
    assert list(inspect.signature(RFC6455WebSocket._pack_message).parameters)[:2] == [
        "self", "message"]
    init = inspect.getsource(RFC6455WebSocket.__init__) + inspect.getsource(
        RFC6455WebSocket.__mro__[1].__init__)
    for attribute in ("self.extensions", "self._sendlock", "self.socket"):
        assert attribute in init, attribute
    assert "ignore_send_errors" in inspect.signature(
        RFC6455WebSocket._send_closing_frame).parameters
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
        _websocket_wsgi.SimpleWebSocketWSGI.__call__)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_install_chooses_the_class_by_async_mode():
    from eventlet.websocket import RFC6455WebSocket
    original = engineio.socket.Socket
    original_mask = RFC6455WebSocket.__dict__["_apply_mask"]
    try:
        direct_socket.install("gevent")
        assert engineio.socket.Socket is direct_socket.WholeFrameSocket
        direct_socket.install("eventlet")
        assert engineio.socket.Socket is direct_socket.DirectSocket
        assert RFC6455WebSocket._apply_mask is direct_socket.unmask
    finally:
        engineio.socket.Socket = original
        RFC6455WebSocket._apply_mask = original_mask


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_eventlets_unmasking_is_still_the_static_method_the_hook_replaces():
    from eventlet.websocket import RFC6455WebSocket
    method = RFC6455WebSocket.__dict__["_apply_mask"]
    assert isinstance(method, staticmethod)
    assert list(inspect.signature(method.__func__).parameters) == [
        "data", "mask", "length", "offset"]
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
