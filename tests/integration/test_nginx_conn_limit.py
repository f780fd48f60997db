"""nginx limits the connections one client address holds at once.

A local cluster whose nginx (nginx/cluster.conf.template) allows LIMIT
connections per address: LIMIT WebSockets from 127.0.5.1 are upgraded, every
further request from that address (a WebSocket, a REST call, an upload) is
refused with 429 in the API's error shape and a warning in nginx's error log,
while 127.0.6.1 still connects; once one of the sockets closes, its address may
open another. Every 127.x.y.z address is loopback on Linux, so each is a client
address of its own to nginx.
"""

import base64
import json
import os
import socket
from collections.abc import Iterator
from typing import Any

import pytest
from socket_clients import assert_error_shape, wait_until

LIMIT = 20
CROWDED = "127.0.5.1"  # holds LIMIT sockets
OTHER = "127.0.6.1"  # another client address
WEBSOCKET_PATH = "/socket.io/?EIO=4&transport=websocket"


@pytest.fixture(scope="module")
def cluster_options() -> dict[str, Any]:
    return {
        "instances": 1,
        "conn_per_address": LIMIT,
        # The sockets here never send the Socket.IO connect: keep them open
        # for the module (the instance closes such sockets after this).
        "extra_env": {"SOCKET_CONNECT_TIMEOUT": "300"},
    }


class Answer:
    """What nginx answered on one connection: status, headers, body; the socket
    is kept open after a 101 (a WebSocket holds its connection)."""

    def __init__(
        self, sock: socket.socket, status: int, headers: dict[str, str], body: bytes
    ) -> None:
        self.sock, self.status, self.headers, self.body = sock, status, headers, body

    def json(self) -> Any:
        return json.loads(self.body)

    def close(self) -> None:
        self.sock.close()


def request(
    port: int,
    source: str,
    method: str = "GET",
    path: str = WEBSOCKET_PATH,
    body: bytes = b"",
    headers: dict[str, str] | None = None,
) -> Answer:
    """One HTTP/1.1 request on a new connection from `source`: a WebSocket
    upgrade by default."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.settimeout(15)
    sock.bind((source, 0))
    sock.connect(("127.0.0.1", port))
    lines = [f"{method} {path} HTTP/1.1", f"Host: 127.0.0.1:{port}"]
    if path == WEBSOCKET_PATH:
        key = base64.b64encode(os.urandom(16)).decode()
        lines += [
            "Upgrade: websocket",
            "Connection: Upgrade",
            f"Sec-WebSocket-Key: {key}",
            "Sec-WebSocket-Version: 13",
        ]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    if body:
        lines.append(f"Content-Length: {len(body)}")
    sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"closed before an answer: {data!r}"
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    fields = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        fields[name.strip().lower()] = value.strip()
    status = int(status_line.split()[1])
    if status != 101:
        length = int(fields.get("content-length", "0"))
        while len(rest) < length:
            chunk = sock.recv(65536)
            assert chunk, "closed in the body"
            rest += chunk
    return Answer(sock, status, fields, rest)


def assert_refused(answer: Answer) -> None:
    assert answer.status == 429, (answer.status, answer.headers, answer.body)
    assert answer.headers["content-type"].startswith("application/json"), answer.headers
    assert_error_shape(answer.json(), "rate_limited")
    answer.close()


def open_websocket(port: int, source: str) -> Answer:
    answer = request(port, source)
    assert answer.status == 101, (answer.status, answer.body)
    # The instance behind nginx answers: Engine.IO's open packet.
    frame = answer.body or answer.sock.recv(4096)
    assert b"0{" in frame[:8], frame
    return answer


@pytest.fixture(scope="module")
def held(cluster: Any) -> Iterator[list[Answer]]:
    """LIMIT WebSockets from CROWDED, open for the module."""
    sockets = [open_websocket(cluster.port, CROWDED) for _ in range(LIMIT)]
    yield sockets
    for answer in sockets:
        answer.close()


def error_log(cluster: Any) -> str:
    with open(os.path.join(cluster.nginx.dir, "error.log"), errors="replace") as f:
        return f.read()


def test_sockets_past_the_limit_are_refused_with_429_in_the_error_shape(
    cluster: Any, held: list[Answer]
) -> None:
    for _ in range(3):
        assert_refused(request(cluster.port, CROWDED))
    # The ones it holds are still there.
    assert all(answer.sock.fileno() != -1 for answer in held)
    assert "limiting connections by zone" in error_log(cluster)
    line = [ln for ln in error_log(cluster).splitlines() if "limiting connections" in ln][-1]
    assert "[warn]" in line and CROWDED in line, line


def test_every_request_of_that_address_counts_rest_and_uploads_too(
    cluster: Any, held: list[Answer]
) -> None:
    assert_refused(request(cluster.port, CROWDED, path="/api/rooms"))
    assert_refused(
        request(
            cluster.port,
            CROWDED,
            method="POST",
            path="/api/uploads",
            body=b"x",
            headers={"Content-Type": "application/octet-stream"},
        )
    )


def test_another_address_still_connects(cluster: Any, held: list[Answer]) -> None:
    sockets = [open_websocket(cluster.port, OTHER) for _ in range(3)]
    try:
        answer = request(cluster.port, OTHER, path="/healthz")
        assert answer.status == 200, (answer.status, answer.body)
        answer.close()
    finally:
        for answer in sockets:
            answer.close()


def test_a_closed_socket_frees_its_place(cluster: Any, held: list[Answer]) -> None:
    held.pop().close()
    admitted = []

    def reopened() -> bool:
        answer = request(cluster.port, CROWDED)
        if answer.status == 101:
            admitted.append(answer)
            return True
        assert_refused(answer)  # nginx may not have seen the close yet
        return False

    wait_until(reopened, timeout=10, interval=0.1, message="a new WebSocket once one closed")
    held.extend(admitted)
    assert_refused(request(cluster.port, CROWDED))
