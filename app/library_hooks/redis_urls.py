"""REDIS_URL for a Redis watched by Sentinel: `redis+sentinel://`.

    redis+sentinel://[[username]:password@]host:port[,host:port...]/service_name[/db]

- `host:port`, one or more: the sentinels (26379 is their usual port); any one
  that answers is enough, list them all.
- `service_name`: the name the sentinels monitor the primary under
  (`sentinel monitor <service_name> ...`).
- `db`: the database number, 0 when left out.
- `username`/`password`: for the Redis servers and the sentinels alike (Redis
  `requirepass` and sentinel `requirepass` set to the same secret), percent-
  encoded in the URL.

Every user of REDIS_URL follows the primary: the clients of presence,
revocations and the sharded queue's publisher are redis-py `Sentinel.master_for`
clients, which ask the sentinels for the primary's address whenever they
connect, and drop a connection to a server that has become a replica; the
sharded queue's listeners do the same on every reconnect; the rate limits use
limits' own Sentinel storage (`limits_storage`) and the classic queue
python-socketio's (`socketio_url`), each given the URL in its own dialect.

This module imports only the standard library at import time (app/config.py
uses it); redis-py is imported by the functions that build clients.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, unquote, urlsplit

SENTINEL_SCHEME = "redis+sentinel"
SENTINEL_PORT = 26379
# How long a question to one sentinel may take before the next is asked.
SENTINEL_TIMEOUT = 2.0


@dataclass(frozen=True)
class SentinelURL:
    sentinels: tuple[tuple[str, int], ...]
    service_name: str
    db: int = 0
    username: str | None = None
    password: str | None = None

    @property
    def auth(self) -> dict[str, str]:
        """username/password keyword arguments for redis-py (only those given)."""
        given = {"username": self.username, "password": self.password}
        return {k: v for k, v in given.items() if v}

    def _netloc(self) -> str:
        user = quote(self.username or "", safe="")
        credentials = f"{user}:{quote(self.password, safe='')}@" if self.password else ""
        if self.username and not self.password:
            credentials = f"{user}@"
        return credentials + ",".join(f"{h}:{p}" for h, p in self.sentinels)


def is_sentinel_url(url: str | None) -> bool:
    return bool(url) and str(url).startswith(SENTINEL_SCHEME + "://")


def parse_sentinel_url(url: str) -> SentinelURL:
    """The parts of a redis+sentinel:// URL; ValueError (saying why) if malformed."""
    parts = urlsplit(url)
    if parts.scheme != SENTINEL_SCHEME:
        raise ValueError(f"not a {SENTINEL_SCHEME}:// URL")
    userinfo, _, hosts = parts.netloc.rpartition("@")
    username, _, password = userinfo.partition(":")
    sentinels = []
    for location in hosts.split(","):
        host, colon, port = location.strip().rpartition(":")
        if not colon:  # no port given
            host, port = port, ""
        if not host:
            raise ValueError("a sentinel's host is missing")
        try:
            sentinels.append((host.strip("[]"), int(port or SENTINEL_PORT)))
        except ValueError:
            raise ValueError(f"bad sentinel port in {location!r}") from None
    path = [p for p in parts.path.split("/") if p]
    if not path or len(path) > 2:
        raise ValueError("the path must be /service_name or /service_name/db")
    try:
        db = int(path[1]) if len(path) == 2 else 0
    except ValueError:
        raise ValueError(f"the database must be a number, got {path[1]!r}") from None
    return SentinelURL(
        tuple(sentinels),
        unquote(path[0]),
        db,
        unquote(username) or None,
        unquote(password) or None,
    )


def sentinel_client(url: str, **options: Any) -> Any:
    """A redis-py client of the service's current primary (`Sentinel.master_for`):
    `options` are the Redis connections' (time-outs, decode_responses...)."""
    from redis.sentinel import Sentinel

    parsed = parse_sentinel_url(url)
    sentinel_options = {
        "socket_connect_timeout": SENTINEL_TIMEOUT,
        "socket_timeout": SENTINEL_TIMEOUT,
        **parsed.auth,
    }
    sentinel = Sentinel(
        list(parsed.sentinels),
        sentinel_kwargs=sentinel_options,
        db=parsed.db,
        **parsed.auth,
        **options,
    )
    return sentinel.master_for(parsed.service_name)


def primary_connection_factory(url: str, **options: Any) -> Callable[..., Any]:
    """connection_class for the sharded queue's listeners: each call (whatever
    host and port it is given) is a new, unconnected connection that asks the
    sentinels for the primary when it connects."""
    pool = sentinel_client(url, **options).connection_pool

    def connection(**_ignored: Any) -> Any:
        return pool.make_connection()

    return connection


def listener_label(url: str) -> tuple[str, str]:
    """What the sharded queue's log lines name instead of a host and port."""
    return parse_sentinel_url(url).service_name, "sentinel"


def limits_storage(url: str) -> tuple[str, dict[str, Any]]:
    """(RATELIMIT_STORAGE_URI, RATELIMIT_STORAGE_OPTIONS) for Flask-Limiter: limits
    reads `redis+sentinel://[auth@]hosts/service_name` and takes the database
    and time-outs as options."""
    parsed = parse_sentinel_url(url)
    options: dict[str, Any] = {
        "socket_timeout": SENTINEL_TIMEOUT,
        "socket_connect_timeout": SENTINEL_TIMEOUT,
    }
    if parsed.db:
        options["db"] = parsed.db
    return (
        f"{SENTINEL_SCHEME}://{parsed._netloc()}/{quote(parsed.service_name, safe='')}",
        options,
    )


def socketio_url(url: str) -> str:
    """The URL in python-socketio's dialect (`/db/service_name`), for QUEUE_MODE=classic."""
    parsed = parse_sentinel_url(url)
    return (
        f"{SENTINEL_SCHEME}://{parsed._netloc()}/{parsed.db}/{quote(parsed.service_name, safe='')}"
    )
