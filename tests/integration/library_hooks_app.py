"""A bare Engine.IO server on the app's socket stack, for test_library_hooks.py.

Served by gunicorn's eventlet or gevent worker (HOOKS_ASYNC_MODE, gunicorn -k
the same), with app/library_hooks' socket hooks and gunicorn error answers
installed (HOOKS=1) or the stock libraries (HOOKS=0). It sends every message
it receives back to its sender; a text message `flood:<n>:<size>` asks for n
messages of size characters instead. GET /stats gives library_hooks'
socket_stats() as JSON.
"""

import json
import os

import engineio

from app import library_hooks

MODE = os.environ["HOOKS_ASYNC_MODE"]
HOOKS = os.environ.get("HOOKS", "1") == "1"
if HOOKS:
    library_hooks.install_socket_hooks(MODE, max_unsent_bytes=int(os.environ["MAX_UNSENT"]))
    library_hooks.install_gunicorn_error_answers()

eio = engineio.Server(
    async_mode=MODE,
    ping_interval=float(os.environ.get("PING_INTERVAL", "1")),
    ping_timeout=float(os.environ.get("PING_TIMEOUT", "1")),
    max_http_buffer_size=1_000_000,
    cors_allowed_origins="*",
)


@eio.on("message")
def echo(sid, data):
    if isinstance(data, str) and data.startswith("flood:"):
        _, count, size = data.split(":")
        for _ in range(int(count)):
            eio.send(sid, "x" * int(size))
        return
    eio.send(sid, data)


def other(environ, start_response):
    if environ.get("PATH_INFO") == "/stats":
        body = json.dumps(library_hooks.socket_stats()).encode()
        start_response("200 OK", [("Content-Type", "application/json")])
        return [body]
    start_response("404 Not Found", [("Content-Type", "text/plain")])
    return [b"not found"]


app = engineio.WSGIApp(eio, other)
if HOOKS and MODE == "eventlet":
    app = library_hooks.socket_as_eventlet_input(app)
