"""Every per-user limit (sending, creating rooms, Socket.IO events and connects,
reacting, searching, uploading), shared by REST and Socket.IO and by every instance.

One place for them all: LIMITS names each limited action and the setting
(app/config.py) that holds its rate; callers say `check_allowed(action,
user_id)`. Counting uses Flask-Limiter's storage (memory, or Redis when
REDIS_URL is set) and its moving-window strategy, so "20 per 2 seconds" is a
burst of 20 and 10 per second sustained, cluster-wide. If Redis is
unreachable, each instance counts in its own memory until it is back: work
goes on, limited per instance, rather than fail.
"""

import logging
import math
import time

from flask import current_app, g, has_request_context
from limits import RateLimitItem, parse
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

from app.errors import ApiError
from app.extensions import limiter

log = logging.getLogger(__name__)
_fallback = MovingWindowRateLimiter(MemoryStorage())

# action -> (the setting holding its rate, what the refusal tells a person)
LIMITS = {
    "send": ("SEND_RATE_LIMIT", "You are sending too fast"),
    "create_room": ("ROOM_CREATE_RATE_LIMIT", "You are creating rooms too fast"),
    "socket_event": ("SOCKET_EVENT_RATE_LIMIT", "Too many {scope} events"),
    "connect": ("CONNECT_RATE_LIMIT", "Too many connections"),
    "search": ("SEARCH_RATE_LIMIT", "You are searching too fast"),
    # Reacting, REST and Socket.IO alike (app/chat/reactions.py counts it).
    "react": ("REACT_RATE_LIMIT", "You are reacting too fast"),
    "upload": ("UPLOAD_RATE_LIMIT", "You are uploading too fast"),
    # Posts through one incoming webhook (counted under the webhook's id).
    "webhook": ("WEBHOOK_RATE_LIMIT", "This webhook is posting too fast"),
}
# Socket.IO events limited each on its own ("socket_event", scope=the event name).
# `react` is limited by the domain for REST and Socket.IO together ("react").
LIMITED_SOCKET_EVENTS = frozenset({"join", "typing", "read", "sync"})


def _hit(item: RateLimitItem, key: tuple[str, ...]):
    """(allowed, window stats), from the shared storage or, failing that, memory."""
    try:
        strategy = limiter.limiter
        return strategy.hit(item, *key), strategy.get_window_stats(item, *key)
    except Exception as exc:  # the storage (Redis) is down
        log.warning(
            "rate limit storage unavailable (%s); counting in memory", exc.__class__.__name__
        )
        return _fallback.hit(item, *key), _fallback.get_window_stats(item, *key)


def check_allowed(action: str, user_id: int, scope: str = "") -> None:
    """Counts one `action` (of LIMITS) for the user, or raises ApiError(rate_limited)."""
    if not current_app.config["RATELIMIT_ENABLED"]:
        return
    setting, what = LIMITS[action]
    item = parse(current_app.config[setting])
    allowed, stats = _hit(item, (action, scope, str(user_id)))
    reset_in = max(0, math.ceil(stats.reset_time - time.time()))
    headers = {
        "X-RateLimit-Limit": str(item.amount),
        "X-RateLimit-Remaining": str(stats.remaining),
        "X-RateLimit-Reset": str(math.ceil(stats.reset_time)),
    }
    if has_request_context():
        g.rate_limit_headers = headers
    if not allowed:
        raise ApiError(
            "rate_limited",
            f"{what.format(scope=scope)} (limit {item.amount} per "
            f"{item.get_expiry()} seconds); wait a moment.",
            headers={**headers, "Retry-After": str(max(1, reset_in))},
        )
