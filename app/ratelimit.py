"""The per-user send limit, shared by REST and Socket.IO and by every instance.

It uses Flask-Limiter's storage (memory, or Redis when REDIS_URL is set) and
its moving-window strategy: "20 per 2 seconds" is a burst of 20 and 10 per
second sustained.
"""
import math
import time

from flask import current_app, g, has_request_context
from limits import parse

from app.errors import ApiError
from app.extensions import limiter


def check_send_allowed(user_id):
    """Counts one send for the user, or raises ApiError(rate_limited)."""
    if not current_app.config["RATELIMIT_ENABLED"]:
        return
    item = parse(current_app.config["SEND_RATE_LIMIT"])
    strategy = limiter.limiter
    allowed = strategy.hit(item, "send", str(user_id))
    stats = strategy.get_window_stats(item, "send", str(user_id))
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
            f"You are sending too fast (limit {item.amount} per "
            f"{item.get_expiry()} seconds); wait a moment.",
            headers={**headers, "Retry-After": str(max(1, reset_in))})
