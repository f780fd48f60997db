"""Redis clients for REDIS_URL, what a failing Redis raises, and how to end a
blocked read on a connection.

REDIS_URL is `redis://...` for one server or `redis+cluster://host:port[,...]`
for a Redis Cluster (docs/deployment.md); redis_client() gives the redis-py
client for either. end_read() and has_unread() reach into redis-py's
Connection for its socket.
"""

import socket
from typing import Any
from urllib.parse import unquote, urlparse

import redis
import redis.cluster

from app.library_hooks import redis_urls
from app.library_hooks.raw_sockets import has_input

CLUSTER_SCHEME = "redis+cluster"

# What a failing Redis raises: a Redis Cluster client also raises
# RedisClusterException (no reachable node, slots not covered), which is not a
# RedisError. Catch this, not RedisError alone, wherever an outage is handled.
REDIS_ERRORS: tuple[type[Exception], ...] = (
    redis.RedisError,
    redis.exceptions.RedisClusterException,
)


def is_cluster_url(url: str | None) -> bool:
    """Whether REDIS_URL names a Redis Cluster (redis+cluster://)."""
    return bool(url) and urlparse(url).scheme == CLUSTER_SCHEME


def parse_cluster_url(url: str) -> tuple[list[tuple[str, int]], dict[str, Any]]:
    """redis+cluster://[user:password@]host:port[,host:port...] -> (nodes, credentials)."""
    parsed = urlparse(url)
    netloc = parsed.netloc.rsplit("@", 1)
    hosts = netloc[-1]
    credentials: dict[str, Any] = {}
    if len(netloc) == 2:
        user, _, password = netloc[0].partition(":")
        if user:
            credentials["username"] = unquote(user)
        if password:
            credentials["password"] = unquote(password)
    nodes = []
    for part in hosts.split(","):
        host, _, port = part.rpartition(":")
        nodes.append((host or "127.0.0.1", int(port or 6379)))
    return nodes, credentials


def redis_client(url: str, **options: Any) -> "redis.Redis | redis.RedisCluster":
    """A redis-py client for REDIS_URL: RedisCluster for a redis+cluster:// URL, a
    client of the current primary for a redis+sentinel:// one (redis_urls.py)."""
    if redis_urls.is_sentinel_url(url):
        return redis_urls.sentinel_client(url, **options)
    if is_cluster_url(url):
        nodes, credentials = parse_cluster_url(url)
        options.pop("health_check_interval", None)
        return redis.RedisCluster(
            startup_nodes=[redis.cluster.ClusterNode(h, p) for h, p in nodes],
            **credentials,
            **options,
        )
    return redis.Redis.from_url(url, **options)


def end_read(conn: redis.Connection) -> None:
    """Makes a read blocked on `conn` in another green thread fail at once: the
    socket is shut down, and the reader closes the connection itself.

    Closing it from here would not do: under eventlet, a green thread waiting on
    a socket closed by another is never woken (the close takes the descriptor out
    of the hub's epoll set first), so a hung Redis went unnoticed until some new
    socket happened to reuse the descriptor's number."""
    sock = conn._sock
    if sock is None:
        return
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass  # already closed: the reader has heard


def has_unread(conn: redis.Connection) -> bool:
    """Whether something from Redis waits on `conn`'s socket, not yet read by
    anyone: bytes, or the end of the connection (raw_sockets.has_input)."""
    sock = conn._sock
    if sock is None:
        return False
    fileno = sock.fileno()
    return fileno >= 0 and has_input(fileno)
