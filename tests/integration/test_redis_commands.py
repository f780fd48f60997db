"""HotPathCommands (app/library_hooks/redis_commands.py) on a real Redis: one connection reused for
commands one after another, a restart of Redis between two commands not seen by
the caller, a Redis that is down raised as redis-py raises it, and a forked child
that opens its own connection."""

import os
import threading
import time

import pytest
import redis
from localservices import Redis

from app.library_hooks import HotPathCommands
from app.library_hooks.redis_commands import MAX_CONNECTIONS


@pytest.fixture
def server():
    server = Redis().start()
    yield server
    server.stop()


def connections(url):
    with redis.Redis.from_url(url) as probe:
        return len(probe.client_list()) - 1  # the probe's own


def test_commands_reuse_one_connection(server):
    client = redis.Redis.from_url(server.url())
    client.set("k1", "v1")
    client.close()
    direct = HotPathCommands(redis.Redis.from_url(server.url()))
    for _ in range(5):
        assert direct.mget(["k1", "missing"]) == [b"v1", None]
        assert direct.publish("nobody-listens", b"x") == 0
    assert connections(server.url()) == 1


def test_a_restart_between_commands_is_not_seen(server):
    direct = HotPathCommands(
        redis.Redis.from_url(server.url(), socket_timeout=2, socket_connect_timeout=2)
    )
    assert direct.mget(["k"]) == [None]
    port = server.port
    server.stop(remove=False)
    restarted = Redis(base_dir=server.dir, port=port).start()
    try:
        # The idle connection is dead; the command goes out again on a new one.
        assert direct.mget(["k"]) == [None]
        assert direct.publish("c", b"x") == 0
    finally:
        restarted.stop()


def test_a_redis_that_is_down_raises_connection_error(server):
    direct = HotPathCommands(redis.Redis.from_url(server.url(), socket_connect_timeout=1))
    assert direct.mget(["k"]) == [None]
    server.stop(remove=False)
    with pytest.raises(redis.ConnectionError):
        direct.mget(["k"])
    with pytest.raises(redis.ConnectionError):  # and again, from no idle connection
        direct.mget(["k"])


def test_a_forked_child_opens_its_own_connection(server):
    direct = HotPathCommands(redis.Redis.from_url(server.url()))
    direct.mget(["k"])
    parents = list(direct._idle)
    child = os.fork()
    if child == 0:
        code = 1
        try:
            direct.mget(["k"])
            code = 0 if not any(c in parents for c in direct._idle) else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert direct.mget(["k"]) == [None]  # the parent's connection still works


def test_a_cluster_client_runs_its_own_methods():
    class Cluster:  # what HotPathCommands hands a client that is not redis.Redis
        def mget(self, keys):
            return ["mget", keys]

        def publish(self, channel, payload):
            return ["publish", channel, payload]

    direct = HotPathCommands(Cluster())
    assert direct.mget(["a"]) == ["mget", ["a"]]
    assert direct.publish("c", b"p") == ["publish", "c", b"p"]


def test_a_script_runs_as_one_evalsha_and_is_loaded_again_after_a_flush(server):
    client = redis.Redis.from_url(server.url(), decode_responses=True)
    script = client.register_script("return redis.call('INCR', KEYS[1]) + tonumber(ARGV[1])")
    direct = HotPathCommands(client)
    assert direct.run_script(script, ["n"], [10]) == 11  # unknown to Redis: loaded, then run
    assert direct.run_script(script, ["n"], [10]) == 12
    client.script_flush()  # as after a restart without persistence
    assert direct.run_script(script, ["n"], [10]) == 13


def test_a_burst_of_concurrent_commands_leaves_the_client_usable(server):
    """More callers at once than the client's pool may hold (redis-py's default
    is 100): they share at most MAX_CONNECTIONS connections, each command is
    answered, and the client's own pool is not used up by them."""
    client = redis.Redis.from_url(server.url(), socket_timeout=10)
    direct = HotPathCommands(client)
    callers = client.connection_pool.max_connections + 50
    start = threading.Barrier(callers + 1)
    errors = []

    def call():
        start.wait()
        try:
            direct.mget(["k"])
        except Exception as exc:  # collected: the test says which
            errors.append(exc)

    def accepted():
        with redis.Redis.from_url(server.url()) as probe:
            return probe.info("stats")["total_connections_received"]

    before = accepted()
    threads = [threading.Thread(target=call) for _ in range(callers)]
    for thread in threads:
        thread.start()
    with redis.Redis.from_url(server.url()) as blocker:
        # Redis busy for a moment: every caller's command waits on its own connection.
        busy = "local t0 = redis.call('TIME') repeat local t = redis.call('TIME') until (t[1] - t0[1]) * 1e6 + (t[2] - t0[2]) > 1000000"
        blocker_thread = threading.Thread(target=blocker.eval, args=(busy, 0))
        blocker_thread.start()
        time.sleep(0.2)  # the script is running: the callers' commands queue behind it
        start.wait()
        blocker_thread.join()
    for thread in threads:
        thread.join()
    assert errors == []
    # What Redis accepted during the burst, less the blocker's and the probe's.
    assert accepted() - before - 2 <= MAX_CONNECTIONS
    assert client.set("after", "1") and client.get("after") == b"1"
    assert direct.mget(["after"]) == [b"1"]
