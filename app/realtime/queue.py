"""The Socket.IO message queue: which manager, and the classic one-channel manager.

QUEUE_MODE picks the manager when REDIS_URL is set: `sharded` (the default,
app/realtime/sharded_queue.py: one Redis channel per Socket.IO channel, so an
instance only reads the events of rooms it has sockets in) or `classic`
(python-socketio's RedisManager on one channel every instance reads; kept for
A/B measurements, docs/performance.md). Both start listening when the worker
starts, before it serves (app/realtime/lifecycle.py), and tell local sockets
`delivery {live}` when they lose Redis and when they are back (LiveDelivery).

The classic manager's listener comes back fast:

python-socketio's RedisManager re-subscribes after a Redis failure with an
exponential backoff of up to 60 s, so after a Redis restart cross-instance
delivery could stay off for up to a minute. Here the retry interval is capped
at RETRY_MAX seconds, so delivery resumes within about that long after Redis
is back. (This overrides a method of python-socketio's RedisManager, pinned in
requirements.txt; tests/integration cover a Redis restart.)
"""

import logging
import time

from socketio import RedisManager
from socketio.manager import Manager

from app.extensions import socketio

log = logging.getLogger(__name__)


RETRY_MAX = 1.0
REDIS_OPTIONS = {
    "socket_connect_timeout": 2,
    "socket_keepalive": True,
    "health_check_interval": 10,
}


def queue_manager(redis_url, mode="sharded"):
    """The python-socketio client manager for these settings (None: in-process)."""
    if not redis_url:
        return None
    if mode == "classic":
        from app import redis_urls

        if redis_urls.is_sentinel_url(redis_url):  # python-socketio's own dialect of it
            redis_url = redis_urls.socketio_url(redis_url)
        return ChatRedisManager(redis_url, channel="chat-socketio")
    from app.realtime.sharded_queue import ShardedRedisManager

    return ShardedRedisManager(redis_url, channel="chat")


def tell_if_not_live(sid):
    """A socket that connects while this instance is without the queue hears
    `delivery {live: false}` at once (the others heard it when it happened)."""
    manager = socketio.server.manager
    if getattr(manager, "live", True) is False:  # the in-process manager is always live
        Manager.emit(manager, "delivery", {"live": False}, namespace="/", room=sid)


class LiveDelivery:
    """`live`: whether this instance receives from the queue; local sockets get
    the contract's `delivery {live}` event whenever that changes."""

    live = None

    def set_live(self, live):
        if live == self.live:
            return
        was, self.live = self.live, live
        if was is None and live:
            return  # the first start: no socket to tell yet
        Manager.emit(self, "delivery", {"live": live}, namespace="/")

    def wait_live(self, timeout):
        """Until the listener is subscribed (True) or timeout seconds pass (False)."""
        deadline = time.monotonic() + timeout
        while not self.live and time.monotonic() < deadline:
            self.server.sleep(0.05)
        return bool(self.live)


class ChatRedisManager(LiveDelivery, RedisManager):
    def __init__(self, url, channel):
        super().__init__(url, channel=channel, redis_options=dict(REDIS_OPTIONS))

    def _redis_listen_with_retries(self):
        retry_sleep = 0.25
        subscribed = False
        failing_since = None
        while True:
            try:
                if not subscribed:
                    self._redis_connect()
                    self.pubsub.subscribe(self.channel)
                    subscribed = True
                    self.set_live(True)
                    retry_sleep = 0.25
                    if failing_since is not None:
                        log.warning(
                            "message queue: listening again after %.1f s",
                            time.monotonic() - failing_since,
                        )
                        failing_since = None
                yield from self.pubsub.listen()
            except Exception as exc:
                if failing_since is None:
                    failing_since = time.monotonic()
                    log.error(
                        "message queue: lost Redis (%s); retrying every %.2g s at most",
                        exc.__class__.__name__,
                        RETRY_MAX,
                    )
                subscribed = False
                self.set_live(False)
                time.sleep(retry_sleep)
                retry_sleep = min(retry_sleep * 2, RETRY_MAX)
