"""The project's socket stack as a protocol conformance server, under gunicorn's real worker.

    python scripts/conformance_server.py --port 3000 --async-mode eventlet --hooks 1 --kind socketio

(or `make conformance-server PORT=3000 ASYNC_MODE=eventlet HOOKS=1 KIND=socketio`) runs
gunicorn with one eventlet or gevent worker serving this module's `app`: python-socketio
and python-engineio at the project's pinned versions, with the project's hooks into
their internals installed (`--hooks 1`, as the chat installs them) or the stock
libraries (`--hooks 0`). No Flask app, database or Redis.

- `--kind socketio` (the default), at /socket.io/: configured as the Socket.IO
  protocol maintainers' reference test server is (pingInterval 300 ms, pingTimeout
  200 ms, maxPayload 1,000,000 bytes, any origin, a client that connects to no
  namespace within 1 s is disconnected). On a connect to `/` or `/custom` it emits
  `auth` with the connect's auth payload (`{}` when none); on `message` it emits
  `message-back` with the same arguments; on `message-with-ack` it acknowledges
  with the same arguments.
- `--kind engineio`, at /engine.io/: a bare Engine.IO server with the same
  heartbeat and maxPayload that sends every message back to its sender.

tests/protocol/ runs it as a real gunicorn process; docs/protocol.md says how to run
the maintainers' own test suites against it.
"""

import argparse
import os
import sys
from collections.abc import Callable
from typing import Any

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

PING_INTERVAL = 0.3  # seconds
PING_TIMEOUT = 0.2
MAX_PAYLOAD = 1_000_000  # bytes
CONNECT_TIMEOUT = 1.0  # seconds an Engine.IO session has to connect to a namespace
NAMESPACES = ("/", "/custom")
KINDS = ("socketio", "engineio")
ASYNC_MODES = ("eventlet", "gevent")

# Set in the worker's environment by main(); read when gunicorn imports this module.
KIND_VARIABLE = "CONFORMANCE_KIND"
HOOKS_VARIABLE = "CONFORMANCE_HOOKS"
MODE_VARIABLE = "ASYNC_MODE"

_JOINED = "conformance.joined"  # set in a session's WSGI environ once it joins a namespace


def install_library_hooks(async_mode: str, wsgi_app: Callable[..., Any]) -> Callable[..., Any]:
    """Installs the project's hooks into python-engineio (and eventlet's WebSocket) for
    `async_mode`, as the chat's create_app() does, and returns `wsgi_app` wrapped the
    way the chat wraps its own. Must run before the first connection."""
    from app import library_hooks

    library_hooks.install_socket_hooks(async_mode)
    if async_mode == "eventlet":
        return library_hooks.socket_as_eventlet_input(wsgi_app)
    return wsgi_app


def socketio_app(async_mode: str) -> Callable[..., Any]:
    """The Socket.IO reference server's behaviour, as a WSGI app."""
    import socketio

    sio = socketio.Server(
        async_mode=async_mode,
        ping_interval=PING_INTERVAL,
        ping_timeout=PING_TIMEOUT,
        max_http_buffer_size=MAX_PAYLOAD,
        cors_allowed_origins="*",
        # CONNECT goes out before the connect handler runs, so the `auth` event
        # the handler emits follows it, as in the reference server.
        always_connect=True,
    )

    def on_connect(namespace: str) -> Callable[..., None]:
        def connect(sid: str, environ: dict[str, Any], auth: Any = None) -> None:
            environ[_JOINED] = True
            sio.emit("auth", {} if auth is None else auth, to=sid, namespace=namespace)

        return connect

    def message(namespace: str) -> Callable[..., None]:
        def handler(sid: str, *args: Any) -> None:
            sio.emit("message-back", args, to=sid, namespace=namespace)

        return handler

    def message_with_ack(sid: str, *args: Any) -> tuple[Any, ...]:
        return args  # a tuple: each item is one argument of the ack

    for namespace in NAMESPACES:
        sio.on("connect", on_connect(namespace), namespace=namespace)
        sio.on("message", message(namespace), namespace=namespace)
        sio.on("message-with-ack", message_with_ack, namespace=namespace)

    # The connect timeout: python-socketio has none, so every new Engine.IO
    # session gets a task that disconnects it if it has joined no namespace by then.
    socketio_on_open = sio.eio.handlers["connect"]

    def on_open(eio_sid: str, environ: dict[str, Any]) -> Any:
        result = socketio_on_open(eio_sid, environ)
        sio.start_background_task(_close_unless_joined, sio, eio_sid, environ)
        return result

    sio.eio.on("connect", on_open)
    return socketio.WSGIApp(sio)


def _close_unless_joined(sio: Any, eio_sid: str, environ: dict[str, Any]) -> None:
    sio.sleep(CONNECT_TIMEOUT)
    if not environ.get(_JOINED):
        sio.eio.disconnect(eio_sid)


def engineio_app(async_mode: str) -> Callable[..., Any]:
    """A bare Engine.IO server that sends every message back to its sender."""
    import engineio

    eio = engineio.Server(
        async_mode=async_mode,
        ping_interval=PING_INTERVAL,
        ping_timeout=PING_TIMEOUT,
        max_http_buffer_size=MAX_PAYLOAD,
        cors_allowed_origins="*",
    )

    def echo(sid: str, data: str | bytes) -> None:
        eio.send(sid, data)

    eio.on("message", echo)
    return engineio.WSGIApp(eio)


SOCKET_CLASS_PATH = "/conformance/socket-class"


def with_socket_class_report(wsgi_app: Callable[..., Any]) -> Callable[..., Any]:
    """Answers GET SOCKET_CLASS_PATH with the module and name of the class python-engineio
    makes its sockets of (its own, or the one the hooks put in its place), so that a
    test can tell that the hooks are in."""

    def report_or_serve(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        if environ.get("PATH_INFO") != SOCKET_CLASS_PATH:
            return wsgi_app(environ, start_response)
        import engineio.socket

        cls = engineio.socket.Socket
        body = f"{cls.__module__}.{cls.__qualname__}".encode()
        start_response(
            "200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))]
        )
        return [body]

    return report_or_serve


def build(kind: str, async_mode: str, hooks: bool) -> Callable[..., Any]:
    """The WSGI app gunicorn serves: `kind` of server, hooked or stock."""
    wsgi_app = (socketio_app if kind == "socketio" else engineio_app)(async_mode)
    if hooks:
        wsgi_app = install_library_hooks(async_mode, wsgi_app)
    return with_socket_class_report(wsgi_app)


def gunicorn_command(host: str, port: int, async_mode: str) -> list[str]:
    """gunicorn with one `async_mode` worker serving this module's `app` on host:port."""
    return [
        os.path.join(os.path.dirname(sys.executable), "gunicorn"),
        "--pythonpath",
        f"{ROOT},{os.path.join(ROOT, 'scripts')}",
        "--worker-class",
        async_mode,
        "--workers",
        "1",
        "--bind",
        f"[{host}]:{port}" if ":" in host else f"{host}:{port}",
        "--no-control-socket",
        "--graceful-timeout",
        "1",
        "--log-level",
        "warning",
        "conformance_server:app",
    ]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=3000)
    parser.add_argument("--async-mode", choices=ASYNC_MODES, default="eventlet")
    parser.add_argument(
        "--hooks", choices=("1", "0"), default="1", help="1: the project's hooks; 0: stock"
    )
    parser.add_argument("--kind", choices=KINDS, default="socketio")
    args = parser.parse_args(argv)
    os.environ[KIND_VARIABLE] = args.kind
    os.environ[HOOKS_VARIABLE] = args.hooks
    os.environ[MODE_VARIABLE] = args.async_mode
    command = gunicorn_command(args.host, args.port, args.async_mode)
    os.execv(command[0], command)


if __name__ == "__main__":
    main()
elif os.environ.get(KIND_VARIABLE) in KINDS:
    # Imported by gunicorn's worker (after it monkey-patched the standard library).
    app = build(
        os.environ[KIND_VARIABLE],
        os.environ.get(MODE_VARIABLE, "eventlet"),
        os.environ.get(HOOKS_VARIABLE, "1") != "0",
    )
