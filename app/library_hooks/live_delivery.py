"""Whether this instance receives from the message queue, told to its sockets.

Both queue managers (redis_queue.py, classic_redis_queue.py) mix LiveDelivery
in: local sockets get the contract's `delivery {live}` event whenever the
instance loses the queue and when it has it back. The event goes to local
sockets only, through python-socketio's base `Manager.emit` (the queue is
exactly what is missing).
"""

import time
from typing import Any

from socketio.manager import Manager


class LiveDelivery:
    """`live`: whether this instance receives from the queue (None before the
    listener's first start); local sockets get `delivery {live}` whenever that
    changes."""

    live: bool | None = None
    server: Any  # python-socketio's server, set by the manager's set_server

    def set_live(self, live: bool) -> None:
        if live == self.live:
            return
        was, self.live = self.live, live
        if was is None and live:
            return  # the first start: no socket to tell yet
        Manager.emit(self, "delivery", {"live": live}, namespace="/")

    def wait_live(self, timeout: float) -> bool:
        """Until the listener is subscribed (True) or timeout seconds pass (False)."""
        deadline = time.monotonic() + timeout
        while not self.live and time.monotonic() < deadline:
            self.server.sleep(0.05)
        return bool(self.live)


def tell_if_not_live(manager: Any, sid: str) -> None:
    """A socket that connects while its instance is without the queue hears
    `delivery {live: false}` at once (the others heard it when it happened).
    `manager`: the Socket.IO server's client manager."""
    if getattr(manager, "live", True) is False:  # the in-process manager is always live
        Manager.emit(manager, "delivery", {"live": False}, namespace="/", room=sid)
