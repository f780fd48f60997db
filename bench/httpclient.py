"""A minimal asyncio HTTP/1.1 keep-alive client (one request at a time per connection).

Enough for the bench's REST setup calls and the scaling scenario's posts,
with a source address per connection so nginx's ip_hash spreads the load.
"""

import asyncio
import json


class HttpError(Exception):
    pass


def parse_head(head):
    """(status, {lower-case header: value}) from a response head (bytes, no blank line)."""
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/"):
        raise HttpError(f"bad status line {lines[0]!r}")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(parts[1]), headers


class HttpConnection:
    def __init__(self, host, port, source=None, timeout=10.0):
        self.host, self.port, self.source, self.timeout = host, port, source, timeout
        self.reader = self.writer = None

    async def _open(self):
        self.reader, self.writer = await asyncio.wait_for(
            asyncio.open_connection(
                self.host, self.port, local_addr=(self.source, 0) if self.source else None
            ),
            self.timeout,
        )

    def close(self):
        if self.writer is not None:
            self.writer.close()
            self.writer = None

    async def request(self, method, path, body=None, token=None, headers=None):
        """(status, headers, body bytes); reconnects once if a kept-alive socket went away."""
        for attempt in (0, 1):
            fresh = self.writer is None
            if fresh:
                await self._open()
            try:
                return await asyncio.wait_for(
                    self._exchange(method, path, body, token, headers), self.timeout
                )
            except (ConnectionError, asyncio.IncompleteReadError, HttpError):
                self.close()
                if fresh or attempt:
                    raise
        raise AssertionError("unreachable")

    async def _exchange(self, method, path, body, token, headers):
        data = b"" if body is None else json.dumps(body).encode()
        lines = [
            f"{method} {path} HTTP/1.1",
            f"Host: {self.host}:{self.port}",
            f"Content-Length: {len(data)}",
        ]
        if body is not None:
            lines.append("Content-Type: application/json")
        if token:
            lines.append(f"Authorization: Bearer {token}")
        for name, value in (headers or {}).items():
            lines.append(f"{name}: {value}")
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + data)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status, response_headers = parse_head(head[:-4])
        if "content-length" in response_headers:
            payload = await self.reader.readexactly(int(response_headers["content-length"]))
        elif response_headers.get("transfer-encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
                chunk = await self.reader.readexactly(size + 2)
                if size == 0:
                    break
                chunks.append(chunk[:-2])
            payload = b"".join(chunks)
        elif status in (204, 304):
            payload = b""
        else:
            payload = await self.reader.read()
            self.close()
        if response_headers.get("connection", "").lower() == "close":
            self.close()
        return status, response_headers, payload

    async def json(self, method, path, body=None, token=None, expect=(200, 201)):
        status, _, payload = await self.request(method, path, body, token)
        if status not in expect:
            raise HttpError(f"{method} {path}: {status} {payload[:300]!r}")
        return json.loads(payload) if payload else None
