"""The sharded queue's routing: which Redis channel each kind of message takes
(app/library_hooks/redis_queue.py). Its behaviour on real Redis servers and a Redis
Cluster is in tests/integration/test_scaleout.py."""

from app.library_hooks.redis_queue import ShardedRedisManager, is_cluster_url, parse_cluster_url


def manager_with_local_socket():
    manager = ShardedRedisManager("redis://127.0.0.1:6379/0", channel="chat")
    local = f"{manager.tag}~local"
    manager.basic_enter_room(local, "/", None, eio_sid="e1")
    manager.basic_enter_room(local, "/", local, eio_sid="e1")
    return manager, local


def test_a_cluster_url_names_every_startup_node_and_its_credentials():
    assert is_cluster_url("redis+cluster://127.0.0.1:7000,127.0.0.1:7001")
    assert not is_cluster_url("redis://127.0.0.1:6379/0")
    nodes, credentials = parse_cluster_url(
        "redis+cluster://me:s%40cret@10.0.0.1:7000,10.0.0.2:7001"
    )
    assert nodes == [("10.0.0.1", 7000), ("10.0.0.2", 7001)]
    assert credentials == {"username": "me", "password": "s@cret"}


def test_an_emit_to_a_room_goes_on_that_rooms_channel():
    manager, _ = manager_with_local_socket()
    assert (
        manager._route({"method": "emit", "namespace": "/", "room": "room:general"})
        == "chat#/#room:general"
    )
    assert (
        manager._route({"method": "close_room", "namespace": "/", "room": "room:a"})
        == "chat#/#room:a"
    )


def test_an_emit_to_everyone_or_to_several_rooms_goes_on_the_broadcast_channel():
    manager, _ = manager_with_local_socket()
    assert manager._route({"method": "emit", "namespace": "/", "room": None}) == "chat"
    assert manager._route({"method": "emit", "namespace": "/", "room": ["a", "b"]}) == "chat"


def test_a_socket_of_this_instance_needs_no_queue_and_a_remote_one_its_instances_channel():
    manager, local = manager_with_local_socket()
    assert manager._route({"method": "emit", "namespace": "/", "room": local}) is None
    remote = "0123456789ab~xyz"
    assert (
        manager._route({"method": "emit", "namespace": "/", "room": remote})
        == "chat#host#0123456789ab"
    )
    for method in ("disconnect", "enter_room", "leave_room"):
        assert (
            manager._route({"method": method, "namespace": "/", "sid": remote})
            == "chat#host#0123456789ab"
        )
    # A socket id that names no instance: every instance hears it.
    assert manager._route({"method": "disconnect", "namespace": "/", "sid": "plain"}) == "chat"


def test_replies_go_back_to_the_instance_that_asked():
    manager, _ = manager_with_local_socket()
    assert (
        manager._route({"method": "callback", "host_id": "fedcba9876543210" * 2})
        == "chat#host#fedcba987654"
    )
    assert (
        manager._route({"method": "room_entered", "reply_to": "fedcba987654"})
        == "chat#host#fedcba987654"
    )


def test_every_local_room_and_the_instances_own_channels_are_resubscribed():
    manager, local = manager_with_local_socket()
    manager.basic_enter_room(local, "/", "room:a")
    manager.basic_enter_room(local, "/", "user:7")
    manager._shards = {("127.0.0.1", 6379): "the one shard"}
    assert manager.channels_for("the one shard") == {
        "chat",
        f"chat#host#{manager.tag}",
        "chat#/#room:a",
        "chat#/#user:7",
    }
