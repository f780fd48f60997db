"""Per-user limits (sending, reacting, searching), shared by REST and Socket.IO
and by every instance.

It uses Flask-Limiter's storage (memory, or Redis when REDIS_URL is set) and
its moving-window strategy: "20 per 2 seconds" is a burst of 20 and 10 per
second sustained. If Redis is unreachable, each instance counts in its own
memory until it is back: sends go on, limited per instance, rather than fail.
"""
import logging
import math
import time

from flask import current_app, g, has_request_context
from limits import parse
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

from app.errors import ApiError
from app.extensions import limiter

log = logging.getLogger(__name__)
_fallback = MovingWindowRateLimiter(MemoryStorage())

# kind -> (the setting holding its limit, what the user is doing too fast).
# The defaults (app/config.py) are the contract's.
USER_LIMITS = {
    "send": ("SEND_RATE_LIMIT", "sending"),
    "react": ("REACT_RATE_LIMIT", "reacting"),
    "search": ("SEARCH_RATE_LIMIT", "searching"),
}


def _hit(item, kind, user_id):
    """(allowed, window stats), from the shared storage or, failing that, memory."""
    key = (kind, str(user_id))
    try:
        strategy = limiter.limiter
        return strategy.hit(item, *key), strategy.get_window_stats(item, *key)
    except Exception as exc:  # the storage (Redis) is down
        log.warning("rate limit storage unavailable (%s); counting in memory",
                    exc.__class__.__name__)
        return _fallback.hit(item, *key), _fallback.get_window_stats(item, *key)


def check_send_allowed(user_id):
    """Counts one send for the user, or raises ApiError(rate_limited)."""
    check_allowed("send", user_id)


def check_allowed(kind, user_id):
    """Counts one action of a kind in USER_LIMITS for the user, or raises
    ApiError(rate_limited)."""
    if not current_app.config["RATELIMIT_ENABLED"]:
        return
    setting, doing = USER_LIMITS[kind]
    item = parse(current_app.config[setting])
    allowed, stats = _hit(item, kind, user_id)
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
            f"You are {doing} too fast (limit {item.amount} per "
            f"{item.get_expiry()} seconds); wait a moment.",
            headers={**headers, "Retry-After": str(max(1, reset_in))})
