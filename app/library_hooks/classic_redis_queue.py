"""The classic message queue: python-socketio's RedisManager on one channel
every instance reads (QUEUE_MODE=classic; kept for A/B measurements against
the sharded queue, redis_queue.py).

Its listener comes back fast: python-socketio's RedisManager re-subscribes
after a Redis failure with an exponential backoff of up to 60 s, so after a
Redis restart cross-instance delivery could stay off for up to a minute.
ChatRedisManager overrides the private `_redis_listen_with_retries` of
python-socketio's RedisManager (pinned in requirements.txt) to cap the retry
interval at RETRY_MAX seconds, so delivery resumes within about that long
after Redis is back, and to say `delivery {live}` to local sockets
(LiveDelivery). tests/integration/test_library_hooks.py checks both on a
real Redis.
"""

import logging
import time
from collections.abc import Iterator
from typing import Any

from socketio import RedisManager

from app.library_hooks.live_delivery import LiveDelivery
from app.library_hooks.room_index import RoomIndex

log = logging.getLogger(__name__)

CHANNEL = "chat-socketio"
RETRY_MAX = 1.0
REDIS_OPTIONS = {
    "socket_connect_timeout": 2,
    "socket_keepalive": True,
    "health_check_interval": 10,
}


class ChatRedisManager(RoomIndex, LiveDelivery, RedisManager):
    """python-socketio's RedisManager, re-subscribing within RETRY_MAX seconds."""

    def __init__(self, url: str, channel: str = CHANNEL, write_only: bool = False) -> None:
        super().__init__(
            url, channel=channel, write_only=write_only, redis_options=dict(REDIS_OPTIONS)
        )

    def _redis_listen_with_retries(self) -> Iterator[Any]:
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
