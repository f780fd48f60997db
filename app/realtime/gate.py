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

Two bounds keep connects moving when the line is long:
- While connects wait, at most EVENTS_IN_A_ROW events go before one of them:
  with the other clients' sends always waiting, no connect would ever be served.
- Once the oldest waiting connect has waited LONG_WAIT seconds, the newest goes
  first. A client gives up on a connect that is not answered in time (its
  timeout: socket.io-client's is 20 s) and tries again; served oldest first, a
  line longer than that timeout only ever serves connects whose clients are
  about to give up or already have, and no client gets in. Newest first, the
  client served still waits for its answer; one that gave up is served last, or
  finds its connection closed when its turn comes and does nothing.
"""

import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager

from flask import Flask, current_app

from app import metrics

# Events served one after another while connects wait, before one connect goes.
EVENTS_IN_A_ROW = 8
# Seconds the oldest waiting connect has waited when the newest starts to go first.
LONG_WAIT = 5.0


class Gate:
    def __init__(self, size: int, clock: Callable[[], float] = time.monotonic):
        self._limited = size > 0
        self._free = size
        self._lock = threading.Lock()
        self._clock = clock
        # Waiters, oldest first: each an Event set when a turn is handed to it;
        # a connect's with the time it started to wait.
        self._events: deque[threading.Event] = deque()
        self._connects: deque[tuple[float, threading.Event]] = deque()
        self._events_in_a_row = 0  # served while connects waited

    def acquire(self, connect: bool = False) -> None:
        """Takes a turn, waiting in the connects' line or the events' line."""
        if not self._limited:
            return
        with self._lock:
            if self._free:  # a free turn means nobody waits: turns go to waiters first
                self._free -= 1
                return
            waiter = threading.Event()
            if connect:
                self._connects.append((self._clock(), waiter))
            else:
                self._events.append(waiter)
        metrics.SOCKET_HANDLERS_WAITING.inc()
        if connect:
            metrics.SOCKET_CONNECTS_WAITING.inc()
        try:
            waiter.wait()
        except BaseException:  # killed while it waited: give up its place or its turn
            with self._lock:
                handed_over = not self._drop(waiter, connect)
            if handed_over:
                self.release()
            raise
        finally:
            metrics.SOCKET_HANDLERS_WAITING.dec()
            if connect:
                metrics.SOCKET_CONNECTS_WAITING.dec()

    def _drop(self, waiter: threading.Event, connect: bool) -> bool:
        """Takes a waiter out of its line; False if it is not there (its turn was
        handed to it)."""
        if not connect:
            if waiter in self._events:
                self._events.remove(waiter)
                return True
            return False
        for place, (_, queued) in enumerate(self._connects):
            if queued is waiter:
                del self._connects[place]
                return True
        return False

    def _next(self) -> threading.Event | None:
        """The waiter a free turn goes to (taken out of its line), or None."""
        if self._events and (not self._connects or self._events_in_a_row < EVENTS_IN_A_ROW):
            if self._connects:
                self._events_in_a_row += 1
            return self._events.popleft()
        self._events_in_a_row = 0
        if not self._connects:
            return None
        oldest_since, _ = self._connects[0]
        if self._clock() - oldest_since >= LONG_WAIT:
            return self._connects.pop()[1]
        return self._connects.popleft()[1]

    def release(self) -> None:
        """Gives a turn back: to the waiter `_next` picks, else it is free."""
        if not self._limited:
            return
        with self._lock:
            waiter = self._next()
            if waiter is None:
                self._free += 1
                return
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
