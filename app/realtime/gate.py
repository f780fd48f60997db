"""How many Socket.IO handlers of this process work at once, and which goes next.

Every event and connect runs in a green thread of its own. In a reconnect
storm thousands start together: each takes a database connection at its first
query and keeps it until it ends, and each of its waits (a query, Redis) puts
it behind every other runnable green thread. With all of them runnable the
waits grow until the pool's own timeout fails handlers by the thousand, and
their clients retry. The gate lets SOCKET_HANDLERS_AT_ONCE of them work and
queues the rest before they have taken anything: the few at work finish
quickly and the pool keeps connections free for REST requests and the
background loops.

The queue has two lines, each in order: the events of connected sockets, and
connects. A free turn goes to the oldest event first. In a storm the connects
queue by the thousand; an event queued behind all of them (the `join` and
`sync` of a client that has just connected) waited until its client gave up
and connected again, so the survivors worked for clients that were gone and
few ever finished. Served first, a client that is in finishes, and the next
connect is worth serving.
"""

import threading
from collections import deque
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager

from flask import Flask, current_app

from app import metrics


class Gate:
    def __init__(self, size: int):
        self._limited = size > 0
        self._free = size
        self._lock = threading.Lock()
        # Waiters, oldest first: each an Event set when a turn is handed to it.
        self._events: deque[threading.Event] = deque()
        self._connects: deque[threading.Event] = deque()

    def acquire(self, connect: bool = False) -> None:
        """Takes a turn, waiting in the connects' line or the events' line."""
        if not self._limited:
            return
        with self._lock:
            if self._free:  # a free turn means nobody waits: turns go to waiters first
                self._free -= 1
                return
            waiter = threading.Event()
            (self._connects if connect else self._events).append(waiter)
        metrics.SOCKET_HANDLERS_WAITING.inc()
        try:
            waiter.wait()
        except BaseException:  # killed while it waited: give up its place or its turn
            with self._lock:
                line = self._connects if connect else self._events
                handed_over = waiter not in line
                if not handed_over:
                    line.remove(waiter)
            if handed_over:
                self.release()
            raise
        finally:
            metrics.SOCKET_HANDLERS_WAITING.dec()

    def release(self) -> None:
        """Gives a turn back: to the oldest waiting event, else the oldest connect."""
        if not self._limited:
            return
        with self._lock:
            line = self._events or self._connects
            if not line:
                self._free += 1
                return
            waiter = line.popleft()
        waiter.set()  # the turn passes straight to it

    @contextmanager
    def turn(self, connect: bool = False) -> Iterator[None]:
        """Holds a turn for the block (none to wait for without a limit)."""
        self.acquire(connect)
        try:
            yield
        finally:
            self.release()


def init_app(app: Flask) -> None:
    app.extensions["socket_gate"] = Gate(app.config["SOCKET_HANDLERS_AT_ONCE"])


def turn(connect: bool = False) -> AbstractContextManager[None]:
    """The current app's gate, for a `with` around a handler's work (a connect's
    in the connects' line, served after the events of connected sockets)."""
    return current_app.extensions["socket_gate"].turn(connect)
