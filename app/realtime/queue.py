"""The Socket.IO message queue over Redis, with a listener that comes back fast.

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

log = logging.getLogger(__name__)

RETRY_MAX = 1.0
REDIS_OPTIONS = {
    "socket_connect_timeout": 2,
    "socket_keepalive": True,
    "health_check_interval": 10,
}


class ChatRedisManager(RedisManager):
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
                    retry_sleep = 0.25
                    if failing_since is not None:
                        log.warning("message queue: listening again after %.1f s",
                                    time.monotonic() - failing_since)
                        failing_since = None
                yield from self.pubsub.listen()
            except Exception as exc:
                if failing_since is None:
                    failing_since = time.monotonic()
                    log.error("message queue: lost Redis (%s); retrying every %.2g s at most",
                              exc.__class__.__name__, RETRY_MAX)
                subscribed = False
                time.sleep(retry_sleep)
                retry_sleep = min(retry_sleep * 2, RETRY_MAX)
