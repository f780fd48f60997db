"""RedisPresence on a real Redis: who is online across instances, and what a
connect or a disconnect costs (one round trip each: docs/performance.md)."""

import pytest
import redis

from app.realtime.presence import RedisPresence


@pytest.fixture
def client(redis_server):
    c = redis.Redis.from_url(redis_server.url(), decode_responses=True)
    c.flushall()
    yield c
    c.close()


@pytest.fixture
def instances(redis_server, client):
    return [RedisPresence(redis_server.url(), f"api-{i}", ttl=30) for i in (1, 2)]


@pytest.fixture
def round_trips(monkeypatch):
    """The commands (or pipelines) sent to Redis, as the client writes them."""
    sent = []
    original = redis.connection.Connection.send_packed_command

    def counting(self, command, *args, **kwargs):
        sent.append(command)
        return original(self, command, *args, **kwargs)

    monkeypatch.setattr(redis.connection.Connection, "send_packed_command", counting)
    return sent


def test_a_user_comes_online_with_the_first_socket_and_leaves_with_the_last(instances):
    a, b = instances
    assert a.connect("s1", 7) is True
    assert b.connect("s2", 7) is False
    assert a.connect("s3", 7) is False
    assert a.online_user_ids([7, 8]) == {7}
    assert a.disconnect("s1", 7) is False
    assert b.disconnect("s2", 7) is False
    assert a.disconnect("s3", 7) is True
    assert b.online_user_ids([7]) == set()


def test_sockets_of_a_dead_instance_do_not_count(instances, client):
    a, b = instances
    assert a.connect("s1", 7) is True
    client.delete(a._key("alive", a.instance))  # a's alive key expired
    assert b.connect("s2", 7) is True
    assert b.disconnect("s2", 7) is True


def test_an_instance_swept_from_the_set_does_not_count(instances, client):
    a, b = instances
    a.connect("s1", 7)
    client.srem(a._key("instances"), a.instance)
    assert b.connect("s2", 7) is True


def test_connect_and_disconnect_are_one_round_trip_each(instances, round_trips):
    a, _ = instances
    a.connect("warm", 1)  # the scripts are loaded once
    del round_trips[:]
    a.connect("s1", 7)
    assert len(round_trips) == 1
    a.disconnect("s1", 7)
    assert len(round_trips) == 2


def test_the_scripts_survive_a_script_flush(instances, client):
    a, _ = instances
    a.connect("s1", 7)
    client.script_flush()  # what a Redis restart does to the script cache
    assert a.connect("s2", 8) is True
    assert a.disconnect("s2", 8) is True
