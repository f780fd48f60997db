"""gunicorn's own error answers in the API's error shape.

A request gunicorn cannot read (a request line over its 4094-byte limit, a
malformed request line or header, too many headers) never reaches the app:
gunicorn answers it itself, from its worker's `handle_error`, with an HTML
page written by `gunicorn.util.write_error`. That is the one function replaced
here (installed by app/gunicorn_conf.py in the master, so every worker it forks
has it): the same status line and `Connection: close`, with a JSON body
`{"error": {"code", "message"}}` as every other error of the API
(docs/api.md). The status is 400 `bad_request` for any request it could not
read (gunicorn says 417 or 431 for two kinds of them; the API's codes map to
one status each), 403 `forbidden` for a refused proxy line, 500
`internal_error` otherwise.

A hook into a pinned library's internals (gunicorn>=25.3,<26), kept to this
module; tests/integration/test_bad_input.py fails if gunicorn stops calling
it (an over-long request line sent to an instance must come back as JSON).
"""

import json
import socket

from gunicorn import util


def write_error(sock: socket.socket, status_int: int, reason: str, mesg: str) -> None:
    """gunicorn.util.write_error's signature; the body in the API's error shape."""
    if status_int == 403:
        status, code, reason = 403, "forbidden", "Forbidden"
    elif 400 <= status_int < 500:
        status, code, reason = 400, "bad_request", "Bad Request"
    else:
        status, code, reason = 500, "internal_error", "Internal Server Error"
    message = "The request could not be read"
    if mesg and status == 400:
        message += f" ({mesg[:300]})"
    body = json.dumps(
        {"error": {"code": code, "message": message + "."}}, ensure_ascii=True
    ).encode("ascii")
    head = (
        f"HTTP/1.1 {status} {reason}\r\nConnection: close\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    util.write_nonblock(sock, head.encode("latin1") + body)


def install() -> None:
    """Makes gunicorn answer its own errors with write_error above."""
    util.write_error = write_error
