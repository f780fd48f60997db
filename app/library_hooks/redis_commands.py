"""The Redis commands of the hot paths, sent without redis-py's per-command
machinery.

Every REST request asks Redis one MGET (the logout and password-change check,
app/revocations.py), every message sent is one script (EVALSHA: the message
queue's emit_once, redis_queue.py) and every other emit one
PUBLISH, and every Socket.IO connect and disconnect
runs one presence script (EVALSHA, app/realtime/presence.py). Through
`Redis.execute_command` each took the pool's checkout (with a look for unread
data on the connection: one more system call), the retry and
argument-deprecation wrappers, the metrics hooks and the pool's release: more
Python than the command itself.

`HotPathCommands` keeps its own connections, made with the client's
connection class and settings (time-outs, the health check's PING after 15
idle seconds) but outside the client's pool: they do not count against its
`max_connections` (100 by default), so a burst of callers cannot leave the
client itself without connections. At most MAX_CONNECTIONS are open at once;
a caller beyond them waits for one to be free (a burst of thousands of
disconnects runs as many presence scripts at once: a connection each would
take Redis to its client limit). A command runs as one send and one read. A
connection that fails is dropped. A command that failed to reach Redis on a
reused connection (Redis restarted since it was last used) is sent once more
on a new one, as redis-py's retry would; every other failure is raised as the
client raises it. A Redis
Cluster client has no single pool: its own methods run. It calls redis-py's
Connection methods (`send_command`, `read_response`) itself, bypassing the
client's.
"""

import os
import threading
from collections.abc import Sequence
from typing import Any

import redis

# Connections open at once per HotPathCommands; callers beyond wait for one.
MAX_CONNECTIONS = 32


class HotPathCommands:
    """MGET, PUBLISH and a registered script on `client`, as one send and one read."""

    def __init__(self, client: "redis.Redis | redis.RedisCluster") -> None:
        self.client = client
        self._pool = client.connection_pool if isinstance(client, redis.Redis) else None
        self._idle: list[redis.Connection] = []
        self._pid = os.getpid()
        # Green under eventlet and gevent: the worker patches threading first.
        self._slots = threading.BoundedSemaphore(MAX_CONNECTIONS)

    def mget(self, keys: Sequence[str]) -> list[Any]:
        if self._pool is None:
            return self.client.mget(keys)
        return self._execute("MGET", *keys)

    def publish(self, channel: str, payload: bytes | str) -> int:
        if self._pool is None:
            return self.client.publish(channel, payload)
        return self._execute("PUBLISH", channel, payload)

    def run_script(self, script: Any, keys: Sequence[str], args: Sequence[Any]) -> Any:
        """What `script(keys=keys, args=args)` does for a redis-py Script (from
        register_script): one EVALSHA, and if Redis does not know the script (it
        restarted since), the Script's own call, which loads it and runs it."""
        if self._pool is None:
            return script(keys=keys, args=args)
        try:
            return self._execute("EVALSHA", script.sha, len(keys), *keys, *args)
        except redis.exceptions.NoScriptError:
            return script(keys=keys, args=args)

    def _execute(self, *args):
        if self._pid != os.getpid():  # a forked child: the parent's connections are not its own
            self._idle, self._pid = [], os.getpid()
            self._slots = threading.BoundedSemaphore(MAX_CONNECTIONS)
        with self._slots:
            return self._execute_on_a_free_connection(args)

    def _execute_on_a_free_connection(self, args):
        reused = bool(self._idle)
        connection = self._idle.pop() if reused else self._new_connection()
        try:
            reply = self._run(connection, args)
        except redis.ConnectionError:
            if not reused:
                raise
            connection = self._new_connection()
            reply = self._run(connection, args)
        self._idle.append(connection)
        return reply

    def _new_connection(self):
        # As the pool's make_connection, without its count. Connected here, as the
        # pool does: a Sentinel-managed connection asks the sentinels for the
        # primary in connect() (app/library_hooks/redis_urls.py), not on a send.
        connection = self._pool.connection_class(**self._pool.connection_kwargs)
        connection.connect()
        return connection

    @staticmethod
    def _run(connection, args):
        try:
            connection.send_command(*args)
            return connection.read_response()
        except BaseException:
            connection.disconnect()
            raise
