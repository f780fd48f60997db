"""A process that is not an instance emits to the chat's sockets through the
message queue (app/external_emitter.py): to a room, to a user, to everyone, in
each queue mode (sharded on one Redis server, classic, sharded on a Redis
Cluster), received by real Socket.IO clients on two instances of a real cluster.

The emitter runs in a separate interpreter, as a Celery task or a cron script
would, and shows that it loaded no Flask app."""

import json
import os
import subprocess
import sys
import time

import pytest
from socket_clients import register, unique_name
from test_realtime_cluster import CLUSTER_ENV

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("all_instances_up")]

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SETTLE = 0.5  # seconds for an event that must NOT arrive

EMITTER = r"""
import json, sys
from app.external_emitter import emitter
url, mode, room, user = sys.argv[1:5]
chat = emitter(url, queue_mode=mode)
chat.emit("announcement", {"to": "room"}, room=room)
chat.emit("announcement", {"to": "user"}, user=int(user))
chat.emit("announcement", {"to": "everyone"})
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in ("flask", "flask_socketio")
                        or m in ("app.extensions", "app.models"))))
"""


@pytest.fixture(
    scope="module",
    params=[("sharded", False), ("classic", False), ("sharded", True)],
    ids=["sharded-redis", "classic-redis", "sharded-redis-cluster"],
)
def cluster_options(request):
    mode, redis_cluster = request.param
    return {
        "instances": 2,
        "async_mode": "gevent" if redis_cluster else "eventlet",
        "extra_env": {**CLUSTER_ENV, "QUEUE_MODE": mode},
        "redis_cluster": redis_cluster,
    }


def emit_from_another_process(cluster, room, user_id):
    mode = cluster.extra_env["QUEUE_MODE"]
    env = {k: v for k, v in os.environ.items() if k not in ("QUEUE_MODE", "REDIS_URL")}
    env["PYTHONPATH"] = ROOT
    result = subprocess.run(
        [sys.executable, "-c", EMITTER, cluster.redis.url(), mode, room, str(user_id)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1]) == []  # no Flask app loaded
    assert "cannot publish" not in result.stderr, result.stderr


def announcements(client):
    return sorted(p["to"] for p in client.received("announcement"))


def test_a_separate_process_emits_to_a_room_a_user_and_everyone(cluster, connect):
    alice, bob, carol = (register(cluster.url) for _ in range(3))
    room = unique_name("news")
    alice.create_room(room)
    bob.join_room(room)
    # alice's and bob's sockets in the room, on different instances; bob has a
    # second socket that has not joined it; carol is in no room.
    in_room_1 = connect(alice, 1)
    in_room_1.join(room)
    in_room_2 = connect(bob, 2)
    in_room_2.join(room)
    bob_elsewhere = connect(bob, 1)
    carol_socket = connect(carol, 2)

    emit_from_another_process(cluster, room, bob.user["id"])

    for client in (in_room_1, in_room_2, bob_elsewhere, carol_socket):
        client.wait_for("announcement", lambda p: p["to"] == "everyone")
    in_room_1.wait_for("announcement", lambda p: p["to"] == "room")
    in_room_2.wait_for("announcement", lambda p: p["to"] == "room")
    bob_elsewhere.wait_for("announcement", lambda p: p["to"] == "user")
    time.sleep(SETTLE)
    assert announcements(in_room_1) == ["everyone", "room"]
    assert announcements(in_room_2) == ["everyone", "room", "user"]
    assert announcements(bob_elsewhere) == ["everyone", "user"]
    assert announcements(carol_socket) == ["everyone"]
