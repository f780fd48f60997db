"""How many Socket.IO handlers of this process work at once.

Every event and connect runs in a green thread of its own. In a reconnect
storm thousands start together: each takes a database connection at its first
query and keeps it until it ends, and each of its waits (a query, Redis) puts
it behind every other runnable green thread. With all of them runnable the
waits grow until the pool's own timeout fails handlers by the thousand, and
their clients retry. The gate lets SOCKET_HANDLERS_AT_ONCE of them work and
queues the rest, in order, before they have taken anything: the few at work
finish quickly and the pool keeps connections free for REST requests and the
background loops.
"""

import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager

from flask import Flask, current_app

from app import metrics


class Gate:
    def __init__(self, size: int):
        self._slots = threading.BoundedSemaphore(size) if size > 0 else None

    @contextmanager
    def turn(self) -> Iterator[None]:
        """Waits for a slot (none to wait for without a limit), holds it for the block."""
        slots = self._slots
        if slots is None:
            yield
            return
        if not slots.acquire(blocking=False):
            metrics.SOCKET_HANDLERS_WAITING.inc()
            try:
                slots.acquire()
            finally:
                metrics.SOCKET_HANDLERS_WAITING.dec()
        try:
            yield
        finally:
            slots.release()


def init_app(app: Flask) -> None:
    app.extensions["socket_gate"] = Gate(app.config["SOCKET_HANDLERS_AT_ONCE"])


def turn() -> AbstractContextManager[None]:
    """The current app's gate, for a `with` around a handler's work."""
    return current_app.extensions["socket_gate"].turn()
