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


def test_install_chooses_the_class_by_async_mode():
    original = engineio.socket.Socket
    try:
        direct_socket.install("eventlet")
        assert engineio.socket.Socket is direct_socket.DirectSocket
        direct_socket.install("gevent")
        assert engineio.socket.Socket is direct_socket.WholeFrameSocket
    finally:
        engineio.socket.Socket = original
